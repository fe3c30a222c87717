#![deny(warnings)]
//! Early `return` and `?` in `async fn` bodies and in the `async` blocks that functions returning
//! futures build; the output type drives `?` and `.into()` as in the original function.

use std::future::Future;
use std::pin::Pin;

use tracewell::traced;

#[traced]
async fn parse(s: &str) -> Result<u8, Box<dyn std::error::Error + Send + Sync>> {
    if s.is_empty() {
        return Err("empty".into());
    }
    let n: u32 = s.parse()?;
    Ok(u8::try_from(n)?)
}

#[traced]
async fn widen(n: u8) -> u64 {
    if n == 0 {
        return 0;
    }
    n.into()
}

#[traced]
fn later(s: &'static str) -> impl Future<Output = Result<u32, std::num::ParseIntError>> {
    async move {
        if s == "none" {
            return Ok(0);
        }
        let n = s.parse::<u32>()?;
        Ok(n * 2)
    }
}

#[traced]
fn pinned(s: String) -> Pin<Box<dyn Future<Output = Result<usize, String>> + Send>> {
    if s.is_empty() {
        return Box::pin(async { Err("empty".to_owned()) });
    }
    Box::pin(async move {
        if s == "x" {
            return Ok(0);
        }
        Ok(s.len())
    })
}

#[traced]
async fn collects(n: u32) -> Vec<u32> {
    (0..n).collect()
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        assert!(parse("").await.is_err());
        assert!(parse("300").await.is_err());
        assert_eq!(parse("3").await.unwrap(), 3);
        assert_eq!(widen(2).await, 2);
        assert_eq!(later("none").await, Ok(0));
        assert_eq!(later("2").await, Ok(4));
        assert!(pinned(String::new()).await.is_err());
        assert_eq!(pinned("ab".to_owned()).await, Ok(2));
        assert_eq!(collects(3).await, [0, 1, 2]);
    });
}
