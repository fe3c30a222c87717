//! The function shapes of tracing's `#[instrument]` suite, recorded by `#[traced]` against the
//! real pipeline: arguments bound by patterns, every receiver, boxed futures, functions made by
//! `macro_rules!`, bodies with inner attributes; and an `async fn`'s future owns its arguments
//! until it is done, as an untraced one does.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use futures::future::BoxFuture;
use tracewell::{StatusCode, Value, traced};

use tracewell_tests::{memory, span};

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap()
}

struct Pair(u32, u32);

#[traced]
async fn shapes_destructured((a, b): (u32, u32), Pair(c, mut d): Pair, _: u8) -> u32 {
    tokio::task::yield_now().await;
    d += 1;
    a + b + c + d
}

#[test]
fn destructured_async_arguments_are_captured_under_their_names() {
    memory();
    assert_eq!(runtime().block_on(shapes_destructured((1, 2), Pair(3, 4), 9)), 11);
    let s = span("shapes_destructured");
    let inputs: Vec<(&str, &Value)> = s.inputs.iter().map(|(k, v)| (k.as_ref(), v)).collect();
    assert_eq!(
        inputs,
        [("a", &Value::U64(1)), ("b", &Value::U64(2)), ("c", &Value::U64(3)), ("d", &Value::U64(4))],
        "captured at the call, before the body changed `d`; `_` binds nothing"
    );
    assert_eq!(s.output, Some(Value::U64(11)));
}

/// Counts its drops.
struct Guard(Arc<AtomicUsize>);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }
}

#[traced(skip_all)]
async fn shapes_hold(_permit: Guard, _: Guard, used: Guard) -> usize {
    tokio::task::yield_now().await;
    used.0.load(Ordering::SeqCst)
}

#[test]
fn an_async_fn_future_owns_every_argument_until_its_body_is_done() {
    memory();
    let dropped = Arc::new(AtomicUsize::new(0));
    let fut = shapes_hold(Guard(dropped.clone()), Guard(dropped.clone()), Guard(dropped.clone()));
    assert_eq!(dropped.load(Ordering::SeqCst), 0, "the call keeps `_permit` and `_` in the future");
    let mut fut = std::pin::pin!(fut);
    assert_eq!(runtime().block_on(&mut fut), 0, "nothing dropped while the body ran");
    assert_eq!(dropped.load(Ordering::SeqCst), 3, "dropped when the body was done, the future still alive");
    assert_eq!(span("shapes_hold").status.code, StatusCode::Unset);
}

#[derive(Debug)]
struct Counter {
    hits: u64,
}

impl Counter {
    #[traced(name = "shapes.by_value", capture_self)]
    async fn by_value(self) -> u64 {
        tokio::task::yield_now().await;
        self.hits
    }

    #[traced(name = "shapes.boxed", capture_self)]
    async fn boxed(self: Box<Self>) -> u64 {
        self.hits
    }

    #[traced(name = "shapes.pinned", capture_self)]
    async fn pinned(self: Pin<&mut Self>, by: u64) -> u64 {
        let this = self.get_mut();
        this.hits += by;
        this.hits
    }
}

#[test]
fn async_receivers_by_value_box_and_pin() {
    memory();
    let rt = runtime();
    assert_eq!(rt.block_on(Counter { hits: 1 }.by_value()), 1);
    assert_eq!(rt.block_on(Box::new(Counter { hits: 2 }).boxed()), 2);
    let mut c = Counter { hits: 3 };
    assert_eq!(rt.block_on(Pin::new(&mut c).pinned(4)), 7);
    assert_eq!(span("shapes.by_value").input("self"), Some(&Value::from("Counter { hits: 1 }")));
    assert_eq!(span("shapes.boxed").input("self"), Some(&Value::from("Counter { hits: 2 }")));
    let pinned = span("shapes.pinned");
    assert_eq!(pinned.input("self"), Some(&Value::from("Counter { hits: 3 }")));
    assert_eq!((pinned.input("by"), pinned.output.clone()), (Some(&Value::U64(4)), Some(Value::U64(7))));
}

#[traced]
fn shapes_box_future(n: u32) -> BoxFuture<'static, Result<u32, String>> {
    Box::pin(async move {
        tokio::task::yield_now().await;
        if n == 0 { Err("zero".to_owned()) } else { Ok(n) }
    })
}

#[traced]
fn shapes_unpin_future(n: u32) -> Box<dyn Future<Output = u32> + Unpin + Send> {
    Box::new(Box::pin(async move {
        tokio::task::yield_now().await;
        n * 2
    }))
}

#[test]
fn box_future_and_unpin_box_are_traced_as_futures() {
    memory();
    let rt = runtime();
    assert_eq!(rt.block_on(shapes_box_future(3)), Ok(3));
    assert!(rt.block_on(shapes_box_future(0)).is_err());
    assert_eq!(rt.block_on(shapes_unpin_future(4)), 8);
    let all = tracewell_tests::spans("shapes_box_future", 2);
    let ok = all.iter().find(|s| s.input("n") == Some(&Value::U64(3))).unwrap();
    assert_eq!(ok.output, Some(Value::U64(3)));
    assert!(ok.pending_polls >= 1, "the span covers the future, not only the call");
    let err = all.iter().find(|s| s.input("n") == Some(&Value::U64(0))).unwrap();
    assert_eq!(err.status.message.as_deref(), Some("zero"));
    let unpin = span("shapes_unpin_future");
    assert_eq!(unpin.output, Some(Value::U64(8)));
    assert!(unpin.pending_polls >= 1);
}

macro_rules! shapes_adder {
    ($name:ident, $n:expr) => {
        #[traced]
        fn $name(x: u32) -> u32 {
            x + $n
        }
    };
}

shapes_adder!(shapes_add_two, 2);

macro_rules! shapes_async {
    ($name:ident, $arg:ident) => {
        #[traced]
        async fn $name($arg: u64) -> u64 {
            tokio::task::yield_now().await;
            $arg * 10
        }
    };
}

shapes_async!(shapes_times_ten, value);

#[test]
fn functions_made_by_macro_rules() {
    memory();
    assert_eq!(shapes_add_two(1), 3);
    assert_eq!(runtime().block_on(shapes_times_ten(4)), 40);
    let add = span("shapes_add_two");
    assert_eq!((add.input("x"), add.output.clone()), (Some(&Value::U64(1)), Some(Value::U64(3))));
    let times = span("shapes_times_ten");
    assert_eq!((times.input("value"), times.output.clone()), (Some(&Value::U64(4)), Some(Value::U64(40))));
}

#[rustfmt::skip]
#[traced]
async fn shapes_one_line(a: u64) -> u64 { a + 1 }

#[deny(unused_variables)]
#[traced]
fn shapes_inner_attribute(a: u64) -> u64 {
    #![allow(unused_variables)]
    let unused = 1;
    a
}

#[test]
fn one_line_bodies_and_inner_attributes() {
    memory();
    assert_eq!(runtime().block_on(shapes_one_line(1)), 2);
    assert_eq!(shapes_inner_attribute(5), 5);
    assert_eq!(span("shapes_one_line").output, Some(Value::U64(2)));
    assert_eq!(span("shapes_inner_attribute").output, Some(Value::U64(5)));
}
