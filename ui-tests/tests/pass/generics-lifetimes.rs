#![deny(warnings)]
//! Generic functions, where-clauses, `impl Trait` arguments, lifetimes, patterns, `unsafe fn`.

use std::fmt::Debug;

use tracewell::traced;

#[traced]
fn largest<'a, T>(items: &'a [T], fallback: &'a T) -> &'a T
where
    T: PartialOrd + Debug,
{
    items.iter().fold(fallback, |best, i| if i > best { i } else { best })
}

#[traced]
fn elided(s: &str) -> &str {
    s.trim()
}

#[traced]
fn show(x: impl std::fmt::Display, items: impl IntoIterator<Item = u32>) -> String {
    format!("{x}{}", items.into_iter().sum::<u32>())
}

#[traced]
fn unbounded<T>(t: T) -> T {
    t
}

struct Point {
    x: i32,
    y: i32,
}

#[traced]
fn patterns((a, b): (u32, u32), Point { x, y }: Point, _: u8, mut m: u8) -> i64 {
    m += 1;
    i64::from(a + b) + i64::from(x) + i64::from(y) + i64::from(m)
}

/// # Safety
///
/// `p` must be valid for reads.
#[traced]
unsafe fn read(p: *const u32) -> u32 {
    // SAFETY: promised by the caller.
    unsafe { *p }
}

#[traced]
fn collects(n: u32) -> Vec<u32> {
    (0..n).map(|i| i * 2).collect()
}

#[traced]
fn converts(n: u32) -> Result<u64, Box<dyn std::error::Error>> {
    let v: u8 = n.try_into()?;
    if v == 0 {
        return Err("zero".into());
    }
    Ok(v.into())
}

fn main() {
    let _ = largest(&[1, 2], &0);
    let _ = elided(" a ");
    let _ = show(1, [1, 2]);
    let _ = unbounded(String::new());
    let _ = patterns((1, 2), Point { x: 1, y: 2 }, 0, 0);
    let v = 1;
    // SAFETY: `&v` is valid.
    let _ = unsafe { read(&raw const v) };
    let _ = collects(3);
    let _ = converts(3);
}
