#![deny(warnings)]
//! `async fn`s that borrow their arguments: elided and named lifetimes, several references,
//! `&mut`, returned borrows. The future keeps every borrow, as an `async fn`'s does, in both
//! editions.

use tracewell::traced;

#[traced]
async fn length(s: &str) -> usize {
    tokio::task::yield_now().await;
    s.len()
}

#[traced]
async fn first_word(s: &str) -> &str {
    s.split(' ').next().unwrap_or_default()
}

#[traced]
async fn longest<'a>(a: &'a str, b: &'a str) -> &'a str {
    if a.len() >= b.len() { a } else { b }
}

#[traced]
async fn two_lifetimes<'a, 'b>(a: &'a str, b: &'b [u8]) -> (&'a str, usize) {
    (a, b.len())
}

#[traced]
async fn push(into: &mut Vec<u32>, value: u32) -> usize {
    into.push(value);
    into.len()
}

#[traced]
async fn both(a: &str, b: &mut String) -> usize {
    b.push_str(a);
    b.len()
}

#[traced]
async fn nested<'a>(items: &'a [&'a str]) -> Option<&'a str> {
    items.first().copied()
}

fn main() {
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        let owned = String::from("hello world");
        assert_eq!(length(&owned).await, 11);
        assert_eq!(first_word(&owned).await, "hello");
        assert_eq!(longest("a", "bb").await, "bb");
        assert_eq!(two_lifetimes("a", &[1, 2]).await, ("a", 2));
        let mut v = Vec::new();
        assert_eq!(push(&mut v, 1).await, 1);
        let mut s = String::new();
        assert_eq!(both("x", &mut s).await, 1);
        assert_eq!(nested(&["a"]).await, Some("a"));
    });
}
