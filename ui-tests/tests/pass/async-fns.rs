#![deny(warnings)]
//! `async fn`s, `async fn` in traits, `#[async_trait]` methods and `-> impl Future` bodies.

use std::future::Future;

use tracewell::traced;

#[traced]
async fn fetch(url: &str) -> Result<usize, std::io::Error> {
    let n = parse(url).await?;
    if n == 0 {
        return Err(std::io::Error::other("empty"));
    }
    Ok(n)
}

async fn parse(url: &str) -> Result<usize, std::io::Error> {
    Ok(url.len())
}

#[traced]
async fn borrowed(s: &str) -> &str {
    s
}

#[traced(skip_output)]
async fn nothing() {}

trait Store {
    async fn get(&self, key: &str) -> Option<u32>;
}

struct Mem;

impl Store for Mem {
    #[traced]
    async fn get(&self, key: &str) -> Option<u32> {
        key.parse().ok()
    }
}

#[async_trait::async_trait]
trait Repo {
    async fn save(&self, id: u32) -> Result<u32, String>;
}

#[async_trait::async_trait]
impl Repo for Mem {
    #[traced]
    async fn save(&self, id: u32) -> Result<u32, String> {
        if id == 0 {
            return Err("zero".into());
        }
        Ok(id)
    }
}

#[traced]
fn later(x: u32) -> impl Future<Output = u32> + Send {
    async move { x + 1 }
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let _ = fetch("a").await;
        let _ = borrowed("a").await;
        nothing().await;
        let _ = Mem.get("1").await;
        let _ = Mem.save(1).await;
        let _ = later(1).await;
    });
}
