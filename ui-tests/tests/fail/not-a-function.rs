#[tracewell::traced]
pub struct Config {
    pub port: u16,
}

fn main() {
    let _ = Config { port: 1 };
}
