//! `#[traced]` on functions returning iterators and streams: one span per iterator or stream,
//! from the call to exhaustion or drop, with item counts, error items and the last item(s).

use futures::StreamExt as _;
use futures_core::Stream;
use tracewell::{StatusCode, Value, monitor, traced};

use tracewell_tests::{memory, span, spans};

#[traced(capture_last_item)]
fn squares(n: u64) -> impl Iterator<Item = u64> {
    (1..=n).map(|i| i * i)
}

#[test]
fn exhausted_iterator_records_count_and_last_item() {
    memory();
    assert_eq!(squares(4).collect::<Vec<_>>(), [1, 4, 9, 16]);
    let s = span("squares");
    assert_eq!(s.input("n"), Some(&Value::U64(4)));
    assert_eq!(s.items, Some(4));
    assert_eq!(s.output, Some(Value::U64(16)));
    assert_eq!(s.status.code, StatusCode::Unset);
    assert!(s.first_item_ns.is_some_and(|t| t <= s.duration_ns()));
}

#[traced(capture_items = 2)]
fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(' ').map(str::to_uppercase)
}

#[test]
fn early_drop_is_cancelled_with_items_so_far() {
    memory();
    let mut it = words("a b c d");
    assert_eq!(it.next().as_deref(), Some("A"));
    assert_eq!(it.next().as_deref(), Some("B"));
    assert_eq!(it.next().as_deref(), Some("C"));
    drop(it);
    let s = span("words");
    assert_eq!(s.status.code, StatusCode::Cancelled);
    assert_eq!(s.items, Some(3));
    assert_eq!(s.output, Some(Value::List(vec![Value::from("A"), Value::from("B")])));
}

#[traced]
fn ids(n: u32) -> impl Iterator<Item = u32> {
    (0..n).map(|i| {
        leaf(i);
        tracewell::current().span_id.0 as u32 ^ i
    })
}

#[traced]
fn leaf(i: u32) -> u32 {
    i
}

#[test]
fn consumer_break_leaks_no_context_and_children_nest() {
    memory();
    let mut seen = 0;
    for _ in ids(100) {
        assert!(!tracewell::current().is_valid(), "the iterator's span is not current between items");
        seen += 1;
        if seen == 3 {
            break;
        }
    }
    assert!(!tracewell::current().is_valid());
    let s = span("ids");
    assert_eq!(s.items, Some(3));
    assert_eq!(s.status.code, StatusCode::Cancelled);
    let children: Vec<_> = spans("leaf", 3).into_iter().filter(|c| c.parent_span_id == s.span_id).collect();
    assert_eq!(children.len(), 3, "spans made while producing an item are its children");
}

#[traced]
fn parse_all(items: Vec<&'static str>) -> impl Iterator<Item = Result<u32, std::num::ParseIntError>> {
    items.into_iter().map(str::parse)
}

#[test]
fn error_items_are_events_and_make_the_status_error() {
    memory();
    let out: Vec<_> = parse_all(vec!["1", "x", "3", "y"]).collect();
    assert_eq!(out.iter().filter(|r| r.is_err()).count(), 2);
    let s = span("parse_all");
    assert_eq!(s.items, Some(4));
    assert_eq!(s.status.code, StatusCode::Error);
    assert_eq!(s.status.message.as_deref(), Some("invalid digit found in string"));
    let errors: Vec<_> = s.events.iter().filter(|e| e.name == "error").collect();
    assert_eq!(errors.len(), 2);
    assert!(errors[0].attributes.iter().any(|(k, v)| k == "item" && *v == Value::U64(1)));
}

#[traced(capture_last_item)]
fn chain(n: u32) -> impl Iterator<Item = u32> {
    (0..n).filter(|i| i % 2 == 1).map(|i| i * 10).skip(1)
}

#[monitor(branch = "bulk", skip(n), name = "bulk.iter")]
fn monitored(n: u32) -> impl IntoIterator<Item = u32> {
    vec![n; 3]
}

#[test]
fn iterator_adapter_chains_and_monitor() {
    memory();
    let total: u32 = chain(8).take_while(|v| *v < 60).sum();
    assert_eq!(total, 30 + 50);
    let s = span("chain");
    assert_eq!(s.items, Some(3), "the consumer's take_while pulled a third item");
    assert_eq!(s.output, Some(Value::U64(70)));
    assert_eq!(monitored(7).into_iter().count(), 3);
    let m = span("bulk.iter");
    assert_eq!(m.branch.as_deref(), Some("bulk"));
    assert!(m.inputs.is_empty());
    assert_eq!(m.items, Some(3));
}

#[traced(capture_last_item)]
fn producer(n: u32) -> impl Stream<Item = u32> + Send {
    async_stream::stream! {
        for i in 0..n {
            tokio::task::yield_now().await;
            yield child_work(i).await;
        }
    }
}

#[traced]
async fn child_work(i: u32) -> u32 {
    tokio::task::yield_now().await;
    i + 100
}

#[test]
fn stream_on_multi_thread_runtime_with_nested_spans() {
    memory();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    let got: Vec<u32> = rt.block_on(async { tokio::spawn(producer(4).collect::<Vec<_>>()).await.unwrap() });
    assert_eq!(got, [100, 101, 102, 103]);
    let s = span("producer");
    assert_eq!(s.items, Some(4));
    assert_eq!(s.output, Some(Value::U64(103)));
    assert!(s.pending_polls >= 8, "yields counted: {}", s.pending_polls);
    assert_eq!(s.polls, s.pending_polls + 5);
    assert!(s.busy_ns <= s.duration_ns());
    let children: Vec<_> = spans("child_work", 4).into_iter().filter(|c| c.parent_span_id == s.span_id).collect();
    assert_eq!(children.len(), 4);
}

#[traced]
fn forever() -> impl Stream<Item = u64> {
    futures::stream::iter(0..)
}

#[test]
fn infinite_stream_dropped_is_cancelled() {
    memory();
    let first: Vec<u64> = futures::executor::block_on(forever().take(5).collect());
    assert_eq!(first, [0, 1, 2, 3, 4]);
    let s = span("forever");
    assert_eq!(s.status.code, StatusCode::Cancelled);
    assert_eq!(s.items, Some(5));
}

#[traced(stream, capture_last_item)]
fn boxed(n: u32) -> futures::stream::BoxStream<'static, u32> {
    futures::stream::iter(0..n).boxed()
}

#[traced(iter)]
fn boxed_iter(n: u32) -> Box<dyn Iterator<Item = u32> + Send> {
    Box::new(0..n)
}

#[traced]
async fn opened(n: u32) -> impl Stream<Item = u32> {
    tokio::task::yield_now().await;
    leaf(n);
    futures::stream::iter(0..n)
}

#[test]
fn named_stream_types_and_async_fn_returning_a_stream() {
    memory();
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    assert_eq!(rt.block_on(boxed(3).count()), 3);
    assert_eq!(span("boxed").output, Some(Value::U64(2)));
    assert_eq!(boxed_iter(2).count(), 2);
    assert_eq!(span("boxed_iter").items, Some(2));
    let n = rt.block_on(async { opened(5).await.count().await });
    assert_eq!(n, 5);
    let s = span("opened");
    assert_eq!(s.items, Some(5));
    assert_eq!(s.status.code, StatusCode::Unset);
    let child = spans("leaf", 1).into_iter().find(|c| c.parent_span_id == s.span_id);
    assert!(child.is_some(), "the async body that makes the stream runs under the stream's span");
}

struct Bag(Vec<u32>);

impl Bag {
    #[traced(name = "bag.items", capture_last_item)]
    fn items(&self) -> impl DoubleEndedIterator<Item = &u32> + ExactSizeIterator + '_ {
        self.0.iter()
    }
}

#[test]
fn borrowing_double_ended_exact_size_iterators() {
    memory();
    let bag = Bag(vec![1, 2, 3]);
    let it = bag.items();
    assert_eq!(it.len(), 3);
    assert_eq!(it.rev().copied().collect::<Vec<_>>(), [3, 2, 1]);
    let s = span("bag.items");
    assert_eq!((s.items, s.status.code), (Some(3), StatusCode::Unset));
    assert_eq!(s.output, Some(Value::U64(1)));
}
