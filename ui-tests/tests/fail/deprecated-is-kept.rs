#![deny(deprecated)]

#[deprecated(note = "use `load`")]
#[tracewell::traced]
async fn fetch(id: u32) -> u32 {
    id
}

fn main() {
    let _ = fetch(1);
}
