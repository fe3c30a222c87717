#![deny(warnings)]
//! `async fn`s with `impl Trait` arguments, alone and next to named generics and references.

use std::fmt::Display;

use tracewell::traced;

#[traced]
async fn show(x: impl Display, items: impl IntoIterator<Item = u32>) -> String {
    tokio::task::yield_now().await;
    format!("{x}{}", items.into_iter().sum::<u32>())
}

#[traced]
async fn mixed<T: Display>(prefix: &str, t: T, f: impl Fn(&T) -> usize) -> String {
    format!("{prefix}{t}{}", f(&t))
}

#[traced]
async fn borrowed_impl<'a>(it: impl Iterator<Item = &'a u32>, s: &str) -> u32 {
    it.sum::<u32>() + u32::try_from(s.len()).unwrap_or(0)
}

#[traced]
async fn call_later(f: impl FnOnce() -> u32 + Send) -> u32 {
    tokio::task::yield_now().await;
    f()
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        assert_eq!(show(1, [1, 2]).await, "13");
        assert_eq!(mixed::<u8>("p", 7, |t| usize::from(*t)).await, "p77");
        let v = [1, 2];
        assert_eq!(borrowed_impl(v.iter(), "ab").await, 5);
        assert_eq!(call_later(|| 4).await, 4);
    });
}
