trait Store {
    #[tracewell::traced]
    fn get(&self, key: &str) -> Option<u32>;
}

fn main() {}
