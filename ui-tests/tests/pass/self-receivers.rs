#![deny(warnings)]
//! Every receiver, on plain and `async` methods: `self`, `mut self`, `&self`, `&mut self`,
//! `Box<Self>`, `Rc<Self>`, `Arc<Self>`, `Pin<&mut Self>`.

use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;

use tracewell::traced;

#[derive(Debug, Clone)]
struct Counter {
    hits: u64,
}

impl Counter {
    #[traced(capture_self)]
    fn by_value(self) -> u64 {
        self.hits
    }

    #[traced]
    fn by_mut_value(mut self) -> u64 {
        self.hits += 1;
        self.hits
    }

    #[traced]
    fn boxed(self: Box<Self>) -> u64 {
        self.hits
    }

    #[traced]
    fn rc(self: Rc<Self>) -> u64 {
        self.hits
    }

    #[traced]
    fn pinned(self: Pin<&mut Self>) -> u64 {
        self.get_mut().hits += 1;
        1
    }

    #[traced(capture_self)]
    async fn async_by_value(self) -> u64 {
        tokio::task::yield_now().await;
        self.hits
    }

    #[traced]
    async fn async_by_mut_value(mut self) -> u64 {
        self.hits += 1;
        self.hits
    }

    #[traced]
    async fn async_ref(&self) -> u64 {
        self.hits
    }

    #[traced]
    async fn async_mut(&mut self, by: u64) -> u64 {
        self.hits += by;
        self.hits
    }

    #[traced]
    async fn async_boxed(self: Box<Self>) -> u64 {
        self.hits
    }

    #[traced]
    async fn async_arc(self: Arc<Self>) -> u64 {
        self.hits
    }

    #[traced]
    async fn async_pinned(self: Pin<&mut Self>) -> u64 {
        let this = self.get_mut();
        this.hits += 1;
        this.hits
    }
}

fn main() {
    let c = Counter { hits: 1 };
    assert_eq!(c.clone().by_value(), 1);
    assert_eq!(c.clone().by_mut_value(), 2);
    assert_eq!(Box::new(c.clone()).boxed(), 1);
    assert_eq!(Rc::new(c.clone()).rc(), 1);
    let mut p = c.clone();
    assert_eq!(Pin::new(&mut p).pinned(), 1);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        assert_eq!(c.clone().async_by_value().await, 1);
        assert_eq!(c.clone().async_by_mut_value().await, 2);
        assert_eq!(c.async_ref().await, 1);
        let mut m = c.clone();
        assert_eq!(m.async_mut(2).await, 3);
        assert_eq!(Box::new(c.clone()).async_boxed().await, 1);
        assert_eq!(Arc::new(c.clone()).async_arc().await, 1);
        let mut p = c.clone();
        assert_eq!(Pin::new(&mut p).async_pinned().await, 2);
    });
}
