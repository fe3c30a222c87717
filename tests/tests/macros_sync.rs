//! `#[traced]` and `#[monitor]` on plain functions and methods: what each call records.

use std::sync::Arc;

use tracewell::{SpanContext, SpanId, SpanKind, StatusCode, TraceId, Value, monitor, traced};

use tracewell_tests::{memory, span, spans};

#[traced]
fn add_numbers(a: u64, b: u64) -> u64 {
    a + b
}

#[test]
fn inputs_and_output_are_typed_values() {
    memory();
    assert_eq!(add_numbers(2, 3), 5);
    let s = span("add_numbers");
    assert_eq!(s.input("a"), Some(&Value::U64(2)));
    assert_eq!(s.input("b"), Some(&Value::U64(3)));
    assert_eq!(s.output, Some(Value::U64(5)));
    assert_eq!(s.status.code, StatusCode::Unset);
    assert_eq!(s.kind, SpanKind::Internal);
    assert_eq!(s.target, module_path!());
}

#[derive(Debug)]
struct OnlyDebug(#[allow(dead_code)] u8);

#[derive(serde::Serialize)]
struct Point {
    x: i32,
    y: i32,
}

struct Nothing;

#[traced]
fn capture_rules(p: Point, d: OnlyDebug, n: Nothing, s: &str, text: String) -> Option<u8> {
    let _ = (p.x + p.y, d, n, s, text);
    None
}

#[test]
fn serialize_then_debug_then_type_name() {
    memory();
    assert_eq!(capture_rules(Point { x: 1, y: -2 }, OnlyDebug(7), Nothing, "hi", "there".into()), None);
    let s = span("capture_rules");
    assert_eq!(s.input("p"), Some(&Value::Map(vec![("x".into(), Value::U64(1)), ("y".into(), Value::I64(-2))])));
    assert_eq!(s.input("d"), Some(&Value::from("OnlyDebug(7)")));
    assert!(matches!(s.input("n"), Some(Value::Opaque(t)) if t.ends_with("Nothing")));
    assert_eq!(s.input("s"), Some(&Value::from("hi")));
    assert_eq!(s.input("text"), Some(&Value::from("there")));
    // `None` is a value, not an error.
    assert_eq!(s.output, Some(Value::Null));
    assert_eq!(s.status.code, StatusCode::Unset);
}

#[derive(Debug)]
struct ParseError(String);

impl std::fmt::Display for ParseError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "cannot parse {:?}", self.0)
    }
}

impl std::error::Error for ParseError {}

#[traced]
fn parse_port(text: &str) -> Result<u16, ParseError> {
    let n: u16 = text.trim().parse().map_err(|_| ParseError(text.to_owned()))?;
    if n == 0 {
        return Err(ParseError("zero".into()));
    }
    Ok(n)
}

#[test]
fn ok_is_the_output_and_err_sets_error_status() {
    memory();
    assert_eq!(parse_port("8080").unwrap(), 8080);
    assert!(parse_port("eighty").is_err());
    assert!(parse_port("0").is_err());
    let all = spans("parse_port", 3);
    let ok = all.iter().find(|s| s.input("text") == Some(&Value::from("8080"))).unwrap();
    assert_eq!(ok.output, Some(Value::U64(8080)));
    assert_eq!(ok.status.code, StatusCode::Unset);
    let bad = all.iter().find(|s| s.input("text") == Some(&Value::from("eighty"))).unwrap();
    assert_eq!(bad.status.code, StatusCode::Error);
    assert_eq!(bad.status.message.as_deref(), Some("cannot parse \"eighty\""));
    assert!(matches!(bad.attribute("error.type"), Some(Value::Str(t)) if t.ends_with("ParseError")));
    assert_eq!(bad.output, None);
    let zero = all.iter().find(|s| s.input("text") == Some(&Value::from("0"))).unwrap();
    assert_eq!(zero.status.message.as_deref(), Some("cannot parse \"zero\""));
}

#[traced]
fn explode(code: u32) -> u32 {
    if code == 7 {
        panic!("boom {code}");
    }
    code
}

#[test]
fn panic_is_recorded_and_propagates() {
    memory();
    let caught = std::panic::catch_unwind(|| explode(7));
    let payload = caught.expect_err("the panic propagates unchanged");
    assert_eq!(payload.downcast_ref::<String>().map(String::as_str), Some("boom 7"));
    let s = span("explode");
    assert_eq!(s.status.code, StatusCode::Error);
    assert_eq!(s.status.message.as_deref(), Some("boom 7"));
    assert_eq!(s.output, None);
}

#[traced]
fn outer_call(n: u32) -> u32 {
    inner_call(n) + inner_call(n + 1)
}

#[traced]
fn inner_call(n: u32) -> u32 {
    n * 2
}

#[test]
fn nested_calls_are_parent_and_children() {
    memory();
    assert_eq!(outer_call(1), 6);
    let outer = span("outer_call");
    let inner = spans("inner_call", 2);
    let children: Vec<_> = inner.iter().filter(|s| s.parent_span_id == outer.span_id).collect();
    assert_eq!(children.len(), 2);
    assert!(children.iter().all(|c| c.trace_id == outer.trace_id));
    assert!(outer.is_root());
    assert!(!tracewell::current().is_valid(), "nothing stays current after the call");
}

struct Counter {
    hits: u64,
}

#[derive(serde::Serialize, Debug)]
struct Service {
    name: &'static str,
}

impl Counter {
    #[traced(name = "counter.get")]
    fn get(&self, by: u64) -> u64 {
        self.hits + by
    }

    #[traced(name = "counter.bump")]
    fn bump(&mut self, by: u64) -> u64 {
        self.hits += by;
        self.hits
    }
}

impl Service {
    #[traced(name = "service.arc", capture_self)]
    fn arc(self: Arc<Self>, id: u32) -> String {
        format!("{}-{id}", self.name)
    }
}

#[test]
fn methods_skip_self_unless_asked() {
    memory();
    let mut c = Counter { hits: 1 };
    assert_eq!(c.get(1), 2);
    assert_eq!(c.bump(4), 5);
    let get = span("counter.get");
    assert_eq!(get.inputs.len(), 1);
    assert_eq!(get.input("by"), Some(&Value::U64(1)));
    assert_eq!(span("counter.bump").output, Some(Value::U64(5)));
    assert_eq!(Arc::new(Service { name: "api" }).arc(3), "api-3");
    let arc = span("service.arc");
    // `Arc<T>` is not `Serialize` without serde's `rc` feature, so its `Debug` text is captured.
    assert_eq!(arc.input("self"), Some(&Value::from("Service { name: \"api\" }")));
    assert_eq!(arc.output, Some(Value::from("api-3")));
}

#[traced]
fn generic_longest<'a, T>(items: &'a [T], fallback: &'a T) -> &'a T
where
    T: PartialOrd + std::fmt::Debug,
{
    let mut best = items.first().unwrap_or(fallback);
    for i in items {
        if i > best {
            best = i;
        }
    }
    best
}

#[traced]
fn describe(x: impl std::fmt::Display, tag: &str) -> String {
    format!("{tag}:{x}")
}

#[traced]
fn first_word(s: &str) -> &str {
    s.split(' ').next().unwrap_or(s)
}

#[test]
fn generics_lifetimes_and_impl_trait() {
    memory();
    assert_eq!(*generic_longest(&[3, 9, 4], &0), 9);
    let s = span("generic_longest");
    // `T: Debug` is known inside the function, so the value is its Debug text.
    assert_eq!(s.input("items"), Some(&Value::from("[3, 9, 4]")));
    assert_eq!(s.output, Some(Value::from("9")));
    assert_eq!(describe(5, "n"), "n:5");
    assert!(matches!(span("describe").input("x"), Some(Value::Opaque(_))));
    assert_eq!(first_word("hello world"), "hello");
    assert_eq!(span("first_word").output, Some(Value::from("hello")));
}

#[traced]
fn patterns((a, b): (u32, u32), Point { x, y: why }: Point, _: u8) -> u32 {
    a + b + x.unsigned_abs() + why.unsigned_abs()
}

#[test]
fn pattern_arguments_are_captured_by_bound_names() {
    memory();
    assert_eq!(patterns((1, 2), Point { x: 3, y: -4 }, 0), 10);
    let s = span("patterns");
    let names: Vec<&str> = s.inputs.iter().map(|(k, _)| &**k).collect();
    assert_eq!(names, ["a", "b", "x", "why"]);
    assert_eq!(s.input("why"), Some(&Value::I64(-4)));
}

#[traced(skip(secret_sauce), skip_output)]
fn skips(user: u32, secret_sauce: String) -> usize {
    secret_sauce.len() + user as usize
}

#[traced(skip_all)]
fn skips_all(user: u32) -> u32 {
    user
}

#[test]
fn skip_skip_all_and_skip_output() {
    memory();
    assert_eq!(skips(1, "abc".into()), 4);
    let s = span("skips");
    assert_eq!(s.input("user"), Some(&Value::U64(1)));
    assert_eq!(s.input("secret_sauce"), None);
    assert_eq!(s.output, None);
    assert_eq!(skips_all(9), 9);
    let s = span("skips_all");
    assert!(s.inputs.is_empty());
    assert_eq!(s.output, Some(Value::U64(9)));
}

#[traced(max_len = 8)]
fn secrets_and_long_text(password: &str, api_key: String, body: &str) -> String {
    format!("{}{}{body}", password.len(), api_key.len())
}

#[test]
fn secrets_are_scrubbed_and_long_values_truncated() {
    memory();
    let out = secrets_and_long_text("hunter2", "k".into(), "a very long body indeed");
    let s = span("secrets_and_long_text");
    assert_eq!(s.input("password"), Some(&Value::from(tracewell::span::SCRUBBED)));
    assert_eq!(s.input("api_key"), Some(&Value::from(tracewell::span::SCRUBBED)));
    let marker = tracewell::capture::TRUNCATION_MARKER;
    assert_eq!(s.input("body"), Some(&Value::from(format!("a very l{marker}"))));
    assert_eq!(s.output, Some(Value::from(format!("{}{marker}", &out[..8]))));
}

#[traced(
    name = "checkout",
    kind = "server",
    label = "io",
    tags(region = "eu", user = user_id),
    attributes(items = count as u64, "http.method" = "POST")
)]
fn options_fn(user_id: u64, count: u32) -> u32 {
    count
}

#[monitor(branch = "cache-hit", kind = "client")]
fn lookup_cached(key: &str) -> usize {
    key.len()
}

#[traced(branch = "slow-path")]
fn traced_branch() {}

#[test]
fn name_kind_label_branch_tags_attributes() {
    memory();
    assert_eq!(options_fn(42, 3), 3);
    let s = span("checkout");
    assert_eq!(s.kind, SpanKind::Server);
    assert_eq!(s.label.as_deref(), Some("io"));
    assert_eq!(s.tag("region"), Some(&Value::from("eu")));
    assert_eq!(s.tag("user"), Some(&Value::U64(42)));
    assert_eq!(s.attribute("items"), Some(&Value::U64(3)));
    assert_eq!(s.attribute("http.method"), Some(&Value::from("POST")));
    assert_eq!(lookup_cached("abc"), 3);
    let m = span("lookup_cached");
    assert_eq!(m.branch.as_deref(), Some("cache-hit"));
    assert_eq!(m.kind, SpanKind::Client);
    traced_branch();
    let t = span("traced_branch");
    assert_eq!(t.branch.as_deref(), Some("slow-path"));
    assert_eq!(t.output, None, "a unit return records no output");
}

#[traced(kind = "server", parent = remote)]
fn handle_request(remote: &SpanContext, path: &str) -> usize {
    path.len()
}

#[traced(sample = 0.0)]
fn never_sampled() -> u8 {
    1
}

#[traced(sample = 1.0)]
fn always_sampled() -> u8 {
    1
}

#[test]
fn parent_from_headers_and_per_function_sampling() {
    memory();
    let remote = SpanContext::remote(TraceId(0xabc), SpanId(0xdef), true);
    assert_eq!(handle_request(&remote, "/x"), 2);
    let s = span("handle_request");
    assert_eq!(s.trace_id, TraceId(0xabc));
    assert_eq!(s.parent_span_id, SpanId(0xdef));
    assert!(s.parent_is_remote);
    for _ in 0..20 {
        assert_eq!(never_sampled(), 1);
    }
    assert_eq!(always_sampled(), 1);
    span("always_sampled");
    assert!(memory().spans().iter().all(|s| s.name != "never_sampled"));
}

#[traced]
fn early_return(n: i32) -> &'static str {
    if n < 0 {
        return "negative";
    }
    for i in 0..n {
        if i == 3 {
            return "three";
        }
    }
    "small"
}

#[traced]
fn option_question(v: Option<u32>) -> Option<u32> {
    let x = v?;
    Some(x + 1)
}

#[test]
fn early_return_and_question_mark() {
    memory();
    assert_eq!(early_return(-1), "negative");
    assert_eq!(early_return(10), "three");
    assert_eq!(early_return(1), "small");
    let outs: Vec<Value> = spans("early_return", 3).into_iter().filter_map(|s| s.output).collect();
    for expected in ["negative", "three", "small"] {
        assert!(outs.contains(&Value::from(expected)), "{expected}");
    }
    assert_eq!(option_question(None), None);
    assert_eq!(option_question(Some(1)), Some(2));
    let all = spans("option_question", 2);
    assert!(all.iter().all(|s| s.status.code == StatusCode::Unset));
}
