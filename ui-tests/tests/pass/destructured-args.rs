#![deny(warnings)]
//! Arguments bound by patterns, on plain and `async` functions: tuples, nested tuples,
//! references, tuple structs, structs (with `..`), slices, `_`, `mut` bindings.

use tracewell::traced;

struct Pair(u32, u32);

struct Point {
    x: i32,
    y: i32,
    label: &'static str,
}

struct NoDebug;

#[traced]
fn tuples((a, b): (u32, u32), ((c, d), e): ((u8, u8), u8)) -> u32 {
    a + b + u32::from(c) + u32::from(d) + u32::from(e)
}

#[traced]
fn refs(&n: &u32, &(ref s, m): &(String, u8)) -> usize {
    usize::try_from(n).unwrap_or(0) + s.len() + usize::from(m)
}

#[traced]
fn structs(Pair(a, b): Pair, Point { x, y: renamed, .. }: Point, _: NoDebug) -> i64 {
    i64::from(a + b) + i64::from(x) + i64::from(renamed)
}

#[traced]
fn slices([first, .., last]: [u8; 4], mut m: u8) -> u8 {
    m += first;
    m + last
}

#[traced]
async fn async_tuples((a, b): (u32, u32), Pair(c, d): Pair) -> u32 {
    tokio::task::yield_now().await;
    a + b + c + d
}

#[traced]
async fn async_structs(Point { x, y, label }: Point, _: NoDebug, (mut total, _): (i32, u8)) -> String {
    total += x + y;
    format!("{label}{total}")
}

#[traced]
async fn async_refs(&n: &u32, (a, b): &(u8, u8)) -> u32 {
    n + u32::from(*a) + u32::from(*b)
}

#[traced]
async fn async_mut(mut n: u32, _unused: NoDebug) -> u32 {
    n += 1;
    n
}

fn main() {
    assert_eq!(tuples((1, 2), ((3, 4), 5)), 15);
    assert_eq!(refs(&1, &("ab".to_owned(), 3)), 6);
    assert_eq!(structs(Pair(1, 2), Point { x: 3, y: 4, label: "p" }, NoDebug), 10);
    assert_eq!(slices([1, 2, 3, 4], 0), 5);
    let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
    rt.block_on(async {
        assert_eq!(async_tuples((1, 2), Pair(3, 4)).await, 10);
        assert_eq!(async_structs(Point { x: 1, y: 2, label: "p" }, NoDebug, (3, 0)).await, "p6");
        assert_eq!(async_refs(&1, &(2, 3)).await, 6);
        assert_eq!(async_mut(1, NoDebug).await, 2);
    });
}
