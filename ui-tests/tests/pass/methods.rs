#![deny(warnings)]
//! Methods with every kind of receiver.

use std::sync::Arc;

use tracewell::traced;

#[derive(Debug)]
struct Counter {
    hits: u64,
}

impl Counter {
    #[traced]
    fn get(&self) -> u64 {
        self.hits
    }

    #[traced(capture_self)]
    fn bump(&mut self, by: u64) -> u64 {
        self.hits += by;
        self.hits
    }

    #[traced]
    fn shared(self: Arc<Self>) -> u64 {
        self.hits
    }

    #[traced]
    fn consume(self) -> u64 {
        self.hits
    }

    #[traced]
    fn new(hits: u64) -> Self {
        Counter { hits }
    }
}

trait Named {
    #[traced]
    fn name(&self) -> String {
        "default".to_owned()
    }
}

impl Named for Counter {}

fn main() {
    let mut c = Counter::new(1);
    let _ = c.get();
    let _ = c.bump(2);
    let _ = c.name();
    let _ = Arc::new(Counter { hits: 1 }).shared();
    let _ = c.consume();
}
