//! A traced future keeps the parent it was called under, whatever polls it later: `tokio::spawn`,
//! `JoinSet`, `join_all`, `FuturesUnordered`, `select!`, `Box::pin`, a future stored and awaited
//! elsewhere, `spawn_local`; the same for functions returning futures, streams and iterators,
//! `async fn` in traits and `#[async_trait]` methods. Every span of a request is checked: one
//! trace id, and the parent it was called under.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use futures::StreamExt as _;
use futures::stream::FuturesUnordered;
use futures_core::Stream;
use tracewell::{SpanData, SpanId, StatusCode, TraceId, Value, traced};

use tracewell_tests::{exported_where, memory, wait_until};

fn multi_thread() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

/// The spans of trace `trace`, waiting (with a deadline) until `n` have been exported.
fn trace(trace: TraceId, n: usize) -> Vec<SpanData> {
    let found = exported_where(n, |s| s.trace_id == trace);
    assert_eq!(found.len(), n, "spans of the trace: {:?}", found.iter().map(|s| &s.name).collect::<Vec<_>>());
    found
}

/// What a leaf was run by, as its `via` input.
fn via(s: &SpanData) -> &str {
    s.input("via").and_then(Value::as_str).unwrap_or_default()
}

#[traced]
async fn leaf(via: &'static str) -> &'static str {
    tokio::task::yield_now().await;
    via
}

#[traced]
async fn never(via: &'static str) {
    let _ = via;
    std::future::pending::<()>().await;
}

#[traced]
fn later(via: &'static str) -> impl Future<Output = &'static str> + Send {
    async move {
        tokio::task::yield_now().await;
        via
    }
}

#[traced]
fn boxed(via: &'static str) -> Pin<Box<dyn Future<Output = &'static str> + Send>> {
    Box::pin(async move {
        tokio::task::yield_now().await;
        via
    })
}

#[traced]
fn ticks(via: &'static str) -> impl Stream<Item = u32> + Send {
    let _ = via;
    futures::stream::iter(0..3).then(|i| async move {
        tokio::task::yield_now().await;
        i
    })
}

#[traced]
async fn opened(via: &'static str) -> impl Stream<Item = u32> + Send {
    let _ = via;
    tokio::task::yield_now().await;
    futures::stream::iter(0..2)
}

#[traced]
fn numbers(via: &'static str) -> impl Iterator<Item = u32> + Send {
    let _ = via;
    0..4
}

/// Ends before the stored future below is first polled; its end time is the mark.
#[traced]
fn mark() {}

trait Store {
    async fn get(&self, via: &'static str) -> &'static str;
}

struct Mem;

impl Store for Mem {
    #[traced(name = "leaf")]
    async fn get(&self, via: &'static str) -> &'static str {
        tokio::task::yield_now().await;
        via
    }
}

#[async_trait::async_trait]
trait Repo {
    async fn save(&self, via: &'static str) -> &'static str;
}

#[async_trait::async_trait]
impl Repo for Mem {
    #[traced(name = "leaf")]
    async fn save(&self, via: &'static str) -> &'static str {
        tokio::task::yield_now().await;
        via
    }
}

/// The request: every way of running a traced future that a tokio program uses.
#[traced]
async fn handle(id: u64) -> u64 {
    assert_eq!(tokio::spawn(leaf("spawn")).await.unwrap(), "spawn");
    let mut set = tokio::task::JoinSet::new();
    set.spawn(leaf("join_set"));
    set.spawn(leaf("join_set"));
    while let Some(r) = set.join_next().await {
        r.unwrap();
    }
    futures::future::join_all([leaf("join_all"), leaf("join_all")]).await;
    let mut unordered: FuturesUnordered<_> = [leaf("unordered"), leaf("unordered")].into_iter().collect();
    while unordered.next().await.is_some() {}
    tokio::select! {
        v = leaf("select") => assert_eq!(v, "select"),
        () = never("select") => unreachable!("never completes"),
    }
    let b: Pin<Box<dyn Future<Output = &'static str> + Send>> = Box::pin(leaf("box_pin"));
    assert_eq!(b.await, "box_pin");
    let stored = leaf("stored");
    mark();
    // Awaited inside another span, on another task: the parent is still where it was called.
    let elsewhere = async move { tokio::spawn(stored).await.unwrap() };
    assert_eq!(tracewell::FutureExt::in_span(elsewhere, "elsewhere").await, "stored");
    assert_eq!(tokio::spawn(later("impl_future")).await.unwrap(), "impl_future");
    assert_eq!(tokio::spawn(boxed("boxed_future")).await.unwrap(), "boxed_future");
    assert_eq!(tokio::spawn(ticks("stream").count()).await.unwrap(), 3);
    let made = opened("async_stream");
    assert_eq!(tokio::spawn(async move { made.await.count().await }).await.unwrap(), 2);
    let it = numbers("iterator");
    assert_eq!(tokio::task::spawn_blocking(move || it.sum::<u32>()).await.unwrap(), 6);
    assert_eq!(tokio::spawn(Mem.get("async_fn_in_trait")).await.unwrap(), "async_fn_in_trait");
    assert_eq!(tokio::spawn(Mem.save("async_trait")).await.unwrap(), "async_trait");
    // An `async` block runs only when the task polls it: `tracewell::spawn` gives it this span.
    assert_eq!(tracewell::spawn(async { leaf("tracewell_spawn").await }).await.unwrap(), "tracewell_spawn");
    id + 1
}

#[test]
fn spawned_joined_selected_and_boxed_futures_keep_the_parent_they_were_called_under() {
    memory();
    let rt = multi_thread();
    // The request is called under `root`, which ends before the request is first polled, on
    // another thread.
    let (root, request) = {
        let root = tracewell::span("root").start();
        (root.context().clone(), handle(41))
    };
    let out = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), tokio::spawn(request)).await });
    assert_eq!(out.expect("the request finished in time").unwrap(), 42);

    // root, handle, mark, elsewhere, and one span per leaf, stream or iterator below.
    let spans = trace(root.trace_id, 4 + 19);
    let by_id: HashMap<SpanId, &SpanData> = spans.iter().map(|s| (s.span_id, s)).collect();
    let named = |name: &str| spans.iter().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name}"));
    let handle = named("handle");
    assert_eq!(handle.parent_span_id, root.span_id, "called under root, polled after root ended");
    assert_eq!(handle.output, Some(Value::U64(42)));
    assert_eq!(named("elsewhere").parent_span_id, handle.span_id);
    assert_eq!(named("mark").parent_span_id, handle.span_id);
    let parent_name = |s: &SpanData| by_id.get(&s.parent_span_id).map_or("<none>", |p| p.name.as_ref());

    let mut count: HashMap<&str, usize> = HashMap::new();
    for s in spans.iter().filter(|s| !["root", "handle", "elsewhere", "mark"].contains(&s.name.as_ref())) {
        assert_eq!(s.trace_id, root.trace_id);
        assert_eq!(
            s.parent_span_id,
            handle.span_id,
            "{} (via {}) has parent {}, not handle",
            s.name,
            via(s),
            parent_name(s)
        );
        *count.entry(via(s)).or_default() += 1;
    }
    let expected = [
        ("spawn", 1),
        ("join_set", 2),
        ("join_all", 2),
        ("unordered", 2),
        ("select", 2),
        ("box_pin", 1),
        ("stored", 1),
        ("impl_future", 1),
        ("boxed_future", 1),
        ("stream", 1),
        ("async_stream", 1),
        ("iterator", 1),
        ("async_fn_in_trait", 1),
        ("async_trait", 1),
        ("tracewell_spawn", 1),
    ];
    let mut count: Vec<(&str, usize)> = count.into_iter().collect();
    count.sort_unstable();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(count, expected);

    // The losing `select!` branch was dropped: cancelled, after its polls.
    let lost = spans.iter().find(|s| s.name == "never").unwrap();
    assert_eq!(lost.status.code, StatusCode::Cancelled);
    assert!(lost.polls >= 1);
    // The clock of a future starts at its first poll, not at the call: the stored future was
    // called before `mark` ran and first polled after it.
    let stored = spans.iter().find(|s| via(s) == "stored").unwrap();
    assert!(stored.start_time_unix_nano >= named("mark").end_time_unix_nano);
    assert!(stored.busy_ns <= stored.duration_ns());
    // Streams and iterators made here and consumed on other threads.
    assert_eq!(spans.iter().find(|s| via(s) == "stream").unwrap().items, Some(3));
    assert_eq!(spans.iter().find(|s| via(s) == "iterator").unwrap().items, Some(4));
}

#[test]
fn spawn_local_and_a_future_polled_nowhere_near_its_call() {
    memory();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let local = tokio::task::LocalSet::new();
    let root = tracewell::span("local-root").start_detached().context().clone();
    let run = local.run_until(async {
        let (spawned, plain, dropped) = {
            let _root = tracewell::context::set_current(root.clone());
            let spawned = tokio::task::spawn_local(leaf("spawn_local"));
            let plain = leaf("awaited_later");
            // Called, then dropped without a poll: recorded as cancelled, with no poll.
            let dropped = leaf("never_polled");
            (spawned, plain, dropped)
        };
        drop(dropped);
        assert_eq!(spawned.await.unwrap(), "spawn_local");
        plain.await
    });
    let out = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), run).await });
    assert_eq!(out.expect("finished in time"), "awaited_later");

    let spans = trace(root.trace_id, 4);
    for s in spans.iter().filter(|s| s.name == "leaf") {
        assert_eq!(s.parent_span_id, root.span_id, "{} kept its parent", via(s));
    }
    let never = spans.iter().find(|s| via(s) == "never_polled").unwrap();
    assert_eq!((never.status.code, never.polls), (StatusCode::Cancelled, 0));
}

#[test]
fn an_async_block_spawned_without_tracewell_spawn_starts_a_new_trace() {
    // The contrast that `tracewell::spawn` exists for: a plain `async` block calls its traced
    // functions when the task first polls it, on a worker where no span is current.
    memory();
    let rt = multi_thread();
    let (root, task) = {
        let root = tracewell::span("plain-spawn-root").start();
        let task = rt.spawn(async { leaf("plain_block").await });
        (root.context().clone(), task)
    };
    let out = rt.block_on(async { tokio::time::timeout(Duration::from_secs(10), task).await });
    assert_eq!(out.expect("finished in time").unwrap(), "plain_block");
    let mem = memory();
    let mut found = None;
    wait_until(Duration::from_secs(10), || {
        tracewell::flush();
        found = mem.spans().into_iter().find(|s| s.name == "leaf" && via(s) == "plain_block");
        found.is_some()
    });
    let s = found.expect("the leaf was exported");
    assert_ne!(s.trace_id, root.trace_id);
    assert_eq!(s.parent_span_id, SpanId::INVALID);
}
