struct Numbers(u32);

impl Iterator for Numbers {
    type Item = u32;
    fn next(&mut self) -> Option<u32> {
        self.0 = self.0.checked_sub(1)?;
        Some(self.0)
    }
}

#[tracewell::traced(iter)]
fn numbers(n: u32) -> Numbers {
    Numbers(n)
}

fn main() {
    numbers(3);
}
