//! trybuild cases live in `tests/`. This library instruments one function of every supported
//! shape under `#![deny(warnings, clippy::pedantic)]`, so `cargo clippy` proves that the generated
//! code adds no warning to a strict user crate.

#![deny(warnings, clippy::pedantic)]
#![allow(missing_docs)]

use std::future::Future;
use std::sync::Arc;

use futures_core::Stream;
use tracewell::{monitor, traced};

#[traced]
pub fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[traced(skip_all)]
#[must_use]
pub fn add_skip_all(a: u64, b: u64) -> u64 {
    a + b
}

/// # Errors
///
/// When `s` is not a number.
#[traced(name = "parse", kind = "client", label = "io", tags(len = s.len() as u64), max_len = 10)]
pub fn parse(s: &str) -> Result<u32, std::num::ParseIntError> {
    let n = s.parse()?;
    Ok(n)
}

#[monitor(branch = "hit", skip(b), skip_output)]
pub fn monitored(a: &str, b: &str) -> usize {
    if a.is_empty() {
        return 0;
    }
    a.len() + b.len()
}

#[traced]
pub fn unit(a: Option<u8>) {
    let _ = a;
}

#[traced]
pub fn generic<T>(items: &[T]) -> Vec<T>
where
    T: PartialEq + std::fmt::Debug + Clone,
{
    items.to_vec()
}

#[traced]
pub fn borrowed(s: &str) -> &str {
    s.trim()
}

#[traced]
pub fn pattern((a, b): (u32, u32)) -> u32 {
    a.max(b)
}

#[traced(parent = tracewell::SpanContext::NONE, sample = 0.5)]
pub fn sampled(x: i64) -> i64 {
    x
}

#[derive(Debug)]
pub struct Counter(pub u64);

impl Counter {
    #[traced]
    #[must_use]
    pub fn get(&self) -> u64 {
        self.0
    }

    #[traced(capture_self)]
    pub fn bump(&mut self) -> u64 {
        self.0 += 1;
        self.0
    }

    #[traced]
    #[must_use]
    pub fn shared(self: Arc<Self>) -> u64 {
        self.0
    }
}

/// # Errors
///
/// When `id` is zero.
#[traced]
pub async fn load(id: u32) -> Result<String, String> {
    if id == 0 {
        return Err("zero".into());
    }
    Ok(id.to_string())
}

#[traced]
pub fn later(x: u32) -> impl Future<Output = u32> + Send {
    async move { x + 1 }
}

#[async_trait::async_trait]
pub trait Repo {
    async fn save(&self, id: u32) -> Result<u32, String>;
}

#[async_trait::async_trait]
impl Repo for Counter {
    #[traced]
    async fn save(&self, id: u32) -> Result<u32, String> {
        Ok(id + u32::try_from(self.0).map_err(|e| e.to_string())?)
    }
}

#[traced(capture_last_item)]
pub fn evens(n: u32) -> impl Iterator<Item = u32> {
    (0..n).filter(|i| i % 2 == 0)
}

#[traced(capture_items = 3)]
pub fn ticks(n: u32) -> impl Stream<Item = Result<u32, String>> {
    async_stream::stream! {
        for i in 0..n {
            yield Ok(i);
        }
    }
}

#[traced(stream)]
pub fn boxed(n: u32) -> futures::stream::BoxStream<'static, u32> {
    Box::pin(futures::stream::iter(0..n))
}

#[traced]
pub async fn opened(n: u32) -> impl Stream<Item = u32> {
    futures::stream::iter(0..n)
}

#[derive(Debug)]
pub struct Bag(pub Vec<u32>);

impl Bag {
    #[traced]
    pub fn items(&self) -> impl Iterator<Item = &u32> + '_ {
        self.0.iter()
    }

    #[traced(capture_last_item)]
    pub fn sized(&self) -> impl ExactSizeIterator<Item = u32> + DoubleEndedIterator + '_ {
        self.0.iter().copied()
    }
}

/// # Errors
///
/// When `s` is not a number.
#[traced]
#[must_use = "the parsed number"]
pub async fn parse_later(s: &str, _: u8, _permit: Guard) -> Result<u32, std::num::ParseIntError> {
    s.parse()
}

#[derive(Debug)]
pub struct Guard;

#[traced]
pub async fn destructured((a, b): (u32, u32), Pair(c, mut d): Pair) -> u32 {
    d += 1;
    a + b + c + d
}

#[derive(Debug)]
pub struct Pair(pub u32, pub u32);

#[traced]
pub async fn greet(name: String, times: impl Into<u64>) -> usize {
    name.len() * usize::try_from(times.into()).unwrap_or(0)
}

impl Counter {
    #[traced]
    pub async fn bump_later(self: std::pin::Pin<&mut Self>) -> u64 {
        let this = self.get_mut();
        this.0 += 1;
        this.0
    }

    #[traced]
    pub async fn into_inner(mut self) -> u64 {
        self.0 += 1;
        self.0
    }
}

#[traced]
pub fn boxed_future(n: u32) -> futures::future::BoxFuture<'static, u32> {
    Box::pin(async move { n })
}

#[traced]
pub fn unpin_future(n: u32) -> Box<dyn Future<Output = u32> + Unpin + Send> {
    Box::new(std::future::ready(n))
}

#[rustfmt::skip]
#[traced]
#[must_use]
pub fn one_line(a: u32) -> u32 { a + 1 }

#[rustfmt::skip]
#[traced]
#[must_use]
pub async fn one_line_async(a: u32) -> u32 { a + 1 }

#[traced]
pub fn inner_attribute(a: u32) -> u32 {
    #![allow(clippy::let_and_return)]
    let b = a + 1;
    b
}

/// Spawns a traced future on a tokio runtime, keeping the caller's span.
///
/// # Errors
///
/// When `load` fails or panics.
///
/// # Panics
///
/// Outside a tokio runtime.
pub async fn spawned(id: u32) -> Result<String, String> {
    tracewell::spawn(load(id)).await.map_err(|e| e.to_string())?
}
