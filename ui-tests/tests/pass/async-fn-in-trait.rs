#![deny(warnings)]
//! `async fn` in traits: implementations, a default method, and a trait that names its future
//! (`-> impl Future + Send`) implemented by a traced `async fn`.

use std::future::Future;

use tracewell::traced;

trait Store {
    async fn get(&self, key: &str) -> Option<u32>;

    #[traced]
    async fn get_or(&self, key: &str, or: u32) -> u32 {
        self.get(key).await.unwrap_or(or)
    }
}

trait SendStore {
    fn fetch(&self, key: &str) -> impl Future<Output = Option<u32>> + Send;
}

struct Mem;

impl Store for Mem {
    #[traced]
    async fn get(&self, key: &str) -> Option<u32> {
        tokio::task::yield_now().await;
        key.parse().ok()
    }
}

impl SendStore for Mem {
    #[traced(name = "mem.fetch")]
    async fn fetch(&self, key: &str) -> Option<u32> {
        key.parse().ok()
    }
}

struct Wrapper<'a>(&'a str);

impl Store for Wrapper<'_> {
    #[traced]
    async fn get(&self, key: &str) -> Option<u32> {
        if key == self.0 { Some(1) } else { None }
    }
}

fn spawnable<F: Future + Send + 'static>(f: F) -> F {
    f
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        assert_eq!(Mem.get("1").await, Some(1));
        assert_eq!(Mem.get_or("x", 7).await, 7);
        assert_eq!(Mem.fetch("2").await, Some(2));
        assert_eq!(Wrapper("k").get("k").await, Some(1));
        static MEM: Mem = Mem;
        assert_eq!(spawnable(MEM.fetch("3")).await, Some(3));
    });
}
