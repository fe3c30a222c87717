//! `#[traced]` on `async fn`s, `async fn` in traits, `#[async_trait]` methods and functions
//! returning futures: the span covers the future, polls are counted, drops are cancellations.

use std::future::Future;
use std::time::Duration;

use tracewell::{StatusCode, Value, traced};

use tracewell_tests::{memory, span, spans};

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

#[traced]
async fn fetch_len(url: &str, retries: u32) -> usize {
    for _ in 0..retries {
        tokio::task::yield_now().await;
    }
    child_step(url.len()).await
}

#[traced]
async fn child_step(n: usize) -> usize {
    tokio::task::yield_now().await;
    n
}

#[test]
fn async_fn_records_polls_and_children_across_threads() {
    memory();
    let rt = multi_thread();
    let n = rt.block_on(async { tokio::spawn(fetch_len("https://a.b", 3)).await.unwrap() });
    assert_eq!(n, 11);
    let parent = span("fetch_len");
    assert_eq!(parent.input("url"), Some(&Value::from("https://a.b")));
    assert_eq!(parent.input("retries"), Some(&Value::U64(3)));
    assert_eq!(parent.output, Some(Value::U64(11)));
    assert!(parent.pending_polls >= 4, "yielded {} times", parent.pending_polls);
    assert_eq!(parent.polls, parent.pending_polls + 1);
    assert!(parent.busy_ns <= parent.duration_ns());
    // Another test in this binary calls `child_step` too: pick the one made under this parent.
    let child = spans("child_step", 1)
        .into_iter()
        .find(|c| c.parent_span_id == parent.span_id)
        .expect("child_step recorded under fetch_len");
    assert_eq!(child.trace_id, parent.trace_id);
    assert!(child.pending_polls >= 1);
}

#[derive(Debug)]
struct NotFound(u32);

impl std::fmt::Display for NotFound {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "user {} not found", self.0)
    }
}

#[traced]
async fn load_user(id: u32) -> Result<String, NotFound> {
    let found = find(id).await?;
    Ok(format!("user-{found}"))
}

async fn find(id: u32) -> Result<u32, NotFound> {
    tokio::task::yield_now().await;
    if id == 0 { Err(NotFound(id)) } else { Ok(id) }
}

#[test]
fn async_result_with_question_mark() {
    memory();
    let rt = multi_thread();
    assert_eq!(rt.block_on(load_user(5)).unwrap(), "user-5");
    assert!(rt.block_on(load_user(0)).is_err());
    let all = spans("load_user", 2);
    let ok = all.iter().find(|s| s.input("id") == Some(&Value::U64(5))).unwrap();
    assert_eq!(ok.output, Some(Value::from("user-5")));
    let err = all.iter().find(|s| s.input("id") == Some(&Value::U64(0))).unwrap();
    assert_eq!(err.status.code, StatusCode::Error);
    assert_eq!(err.status.message.as_deref(), Some("user 0 not found"));
}

#[traced]
async fn never_finishes(tag: u32) -> u32 {
    std::future::pending::<()>().await;
    tag
}

#[test]
fn dropped_future_is_cancelled() {
    memory();
    let rt = multi_thread();
    let r = rt.block_on(async { tokio::time::timeout(Duration::from_millis(20), never_finishes(1)).await });
    assert!(r.is_err(), "timed out");
    let s = span("never_finishes");
    assert_eq!(s.status.code, StatusCode::Cancelled);
    assert!(s.polls >= 1);
    assert_eq!(s.pending_polls, s.polls, "every poll yielded");
}

#[traced]
async fn panics_inside(n: u32) -> u32 {
    tokio::task::yield_now().await;
    assert!(n != 3, "bad n {n}");
    n
}

#[test]
fn async_panic_is_recorded_and_propagates() {
    memory();
    let rt = multi_thread();
    let err = rt.block_on(async { tokio::spawn(panics_inside(3)).await.unwrap_err() });
    assert!(err.is_panic());
    let s = span("panics_inside");
    assert_eq!(s.status.code, StatusCode::Error);
    assert_eq!(s.status.message.as_deref(), Some("bad n 3"));
}

trait Store {
    async fn get(&self, key: &str) -> Option<u32>;
}

struct MemStore;

impl Store for MemStore {
    #[traced(name = "store.get")]
    async fn get(&self, key: &str) -> Option<u32> {
        tokio::task::yield_now().await;
        key.parse().ok()
    }
}

#[async_trait::async_trait]
trait Repo {
    async fn save(&self, id: u32, body: String) -> Result<u32, String>;
}

struct Db;

#[async_trait::async_trait]
impl Repo for Db {
    #[traced(name = "db.save")]
    async fn save(&self, id: u32, body: String) -> Result<u32, String> {
        tokio::task::yield_now().await;
        if body.is_empty() {
            return Err("empty body".to_owned());
        }
        child_step(1).await;
        Ok(id)
    }
}

#[test]
fn async_fn_in_trait_and_async_trait() {
    memory();
    let rt = multi_thread();
    assert_eq!(rt.block_on(MemStore.get("42")), Some(42));
    let s = span("store.get");
    assert_eq!(s.input("key"), Some(&Value::from("42")));
    assert_eq!(s.output, Some(Value::U64(42)));
    assert!(s.pending_polls >= 1);

    let repo: Box<dyn Repo + Send + Sync> = Box::new(Db);
    assert_eq!(
        rt.block_on(async { tokio::spawn(async move { repo.save(7, "x".into()).await }).await }).unwrap(),
        Ok(7)
    );
    assert_eq!(rt.block_on(Db.save(8, String::new())), Err("empty body".into()));
    let all = spans("db.save", 2);
    let ok = all.iter().find(|s| s.input("id") == Some(&Value::U64(7))).unwrap();
    assert_eq!(ok.output, Some(Value::U64(7)));
    assert!(ok.pending_polls >= 1, "the span covers the boxed future, not its construction");
    let child = spans("child_step", 1).into_iter().find(|c| c.parent_span_id == ok.span_id);
    assert!(child.is_some(), "children nest under the async_trait span");
    let err = all.iter().find(|s| s.input("id") == Some(&Value::U64(8))).unwrap();
    assert_eq!(err.status.message.as_deref(), Some("empty body"));
}

#[traced]
fn later(x: u32) -> impl Future<Output = Result<u32, String>> + Send {
    async move {
        tokio::task::yield_now().await;
        if x == 0 { Err("zero".to_owned()) } else { Ok(x * 10) }
    }
}

#[test]
fn impl_future_body() {
    memory();
    let rt = multi_thread();
    assert_eq!(rt.block_on(later(2)), Ok(20));
    assert!(rt.block_on(later(0)).is_err());
    let all = spans("later", 2);
    let ok = all.iter().find(|s| s.input("x") == Some(&Value::U64(2))).unwrap();
    assert_eq!(ok.output, Some(Value::U64(20)));
    assert!(ok.pending_polls >= 1);
    let err = all.iter().find(|s| s.input("x") == Some(&Value::U64(0))).unwrap();
    assert_eq!(err.status.message.as_deref(), Some("zero"));
}
