//! Starting and ending spans: the [`Span`] handle, the [`SpanGuard`] that makes it current, the
//! [`SpanBuilder`] for manual spans and the static [`Callsite`] the macros describe a function with.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::atomic::{AtomicU64, Ordering};

use super::{FLAG_RANDOM, FLAG_SAMPLED, SpanContext, replace_current, sampler::ratio_hit, with_current};
use crate::alloc::AllocScope;
use crate::capture::truncate;
use crate::pipeline::{self, Shared, clock};
use crate::span::{Event, Key, SpanData, SpanId, SpanKind, Status, StatusCode, TraceId, Value, attr};

/// The static description of an instrumented function, made once per function by the macros.
///
/// It holds what does not change between calls, and caches which of its inputs are secrets under
/// the installed policy, so the per-call cost of scrubbing is one bit test.
#[derive(Debug)]
pub struct Callsite {
    name: &'static str,
    target: &'static str,
    kind: SpanKind,
    label: Option<&'static str>,
    branch: Option<&'static str>,
    max_len: Option<usize>,
    inputs: &'static [&'static str],
    /// `(generation << 32) | secret mask`; generation 0 means "not computed yet".
    secrets: AtomicU64,
}

impl Callsite {
    /// A callsite for function `name` in module `target`, with argument names `inputs` (in order;
    /// only the first 32 can be scrubbed by the cached mask, later ones are checked per call).
    pub const fn new(name: &'static str, target: &'static str, inputs: &'static [&'static str]) -> Callsite {
        Callsite {
            name,
            target,
            kind: SpanKind::Internal,
            label: None,
            branch: None,
            max_len: None,
            inputs,
            secrets: AtomicU64::new(0),
        }
    }

    /// Sets the span kind.
    pub const fn with_kind(mut self, kind: SpanKind) -> Callsite {
        self.kind = kind;
        self
    }

    /// Sets the label.
    pub const fn with_label(mut self, label: &'static str) -> Callsite {
        self.label = Some(label);
        self
    }

    /// Sets the branch.
    pub const fn with_branch(mut self, branch: &'static str) -> Callsite {
        self.branch = Some(branch);
        self
    }

    /// Overrides the policy's `max_len` for this function.
    pub const fn with_max_len(mut self, max_len: usize) -> Callsite {
        self.max_len = Some(max_len);
        self
    }

    /// The function's span name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The argument names, in order.
    pub const fn inputs(&self) -> &'static [&'static str] {
        self.inputs
    }

    fn secret_mask(&self, shared: &Shared) -> u32 {
        let cached = self.secrets.load(Ordering::Relaxed);
        if cached >> 32 == shared.generation & 0xffff_ffff && cached >> 32 != 0 {
            return cached as u32;
        }
        let mut mask = 0u32;
        for (i, name) in self.inputs.iter().take(32).enumerate() {
            if shared.policy.is_secret(name) {
                mask |= 1 << i;
            }
        }
        self.secrets.store(((shared.generation & 0xffff_ffff) << 32) | mask as u64, Ordering::Relaxed);
        mask
    }
}

/// Anything that can name a parent for a new span: a [`SpanContext`], or an `Option` of one
/// (`None` keeps the current span as parent).
pub trait IntoParent {
    /// The parent, if any.
    fn into_parent(self) -> Option<SpanContext>;
}

impl IntoParent for SpanContext {
    fn into_parent(self) -> Option<SpanContext> {
        Some(self)
    }
}

impl IntoParent for Option<SpanContext> {
    fn into_parent(self) -> Option<SpanContext> {
        self
    }
}

/// Any borrow of a parent (`&ctx`, `&Option<ctx>`, `&&ctx`, ...).
impl<T: IntoParent + Clone> IntoParent for &T {
    fn into_parent(self) -> Option<SpanContext> {
        self.clone().into_parent()
    }
}

impl IntoParent for Option<&SpanContext> {
    fn into_parent(self) -> Option<SpanContext> {
        self.cloned()
    }
}

/// What a recording span carries until it ends; handed to the pipeline boxed, as it is.
#[derive(Debug)]
pub(crate) struct Recording {
    pub(crate) data: SpanData,
    pub(crate) start: clock::Instant,
    pub(crate) end: clock::Instant,
    pub(crate) limit: usize,
    pub(crate) secret_mask: u32,
    pub(crate) inputs: &'static [&'static str],
    /// End as cancelled if dropped before [`Span::end`] was reached by normal completion.
    pub(crate) cancel_on_drop: bool,
    /// Allocation figures of this thread since the start, when a tracking allocator runs.
    pub(crate) alloc: Option<AllocScope>,
}

impl Recording {
    /// A record with every field at its default, ready to be filled in.
    pub(crate) fn empty() -> Recording {
        let now = clock::Instant::now();
        Recording {
            data: SpanData::default(),
            start: now,
            end: now,
            limit: 0,
            secret_mask: 0,
            inputs: &[],
            cancel_on_drop: false,
            alloc: None,
        }
    }
}

/// A started span. It ends (and is handed to the pipeline) when dropped.
///
/// A `Span` is not current anywhere by itself: [`Span::enter`] makes it current on this thread,
/// [`Instrumented`](super::Instrumented) while a future is polled. A span that is not sampled
/// records nothing and costs almost nothing, but still has a context for children and headers.
///
/// # Examples
///
/// ```
/// let _g = tracewell::builder().install().unwrap();
/// let mut span = tracewell::span("load").branch("batch").start_detached();
/// span.set_attribute("rows", 42u64);
/// assert!(span.is_recording());
/// drop(span);
/// let spans = tracewell::collected();
/// assert_eq!(spans.last().unwrap().branch.as_deref(), Some("batch"));
/// ```
#[derive(Debug)]
pub struct Span {
    ctx: SpanContext,
    rec: Option<Box<Recording>>,
}

impl Span {
    /// A span that records nothing and has no context.
    pub const fn none() -> Span {
        Span { ctx: SpanContext::NONE, rec: None }
    }

    /// This span's context, for children and for headers.
    pub fn context(&self) -> &SpanContext {
        &self.ctx
    }

    /// Whether this span is sampled and will be exported.
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.rec.is_some()
    }

    /// Makes this span current on this thread until the guard drops; the span ends with it.
    pub fn enter(self) -> SpanGuard {
        // A span with no context (nothing installed, or inside an unsampled trace) leaves the
        // current context alone: children then see the same parent and decide the same way.
        let prev = if self.ctx.is_valid() { Some(replace_current(self.ctx.clone())) } else { None };
        SpanGuard { span: self, prev, _not_send: PhantomData }
    }

    /// The longest captured text for this span.
    #[inline]
    pub fn max_len(&self) -> usize {
        self.rec.as_ref().map_or(0, |r| r.limit)
    }

    /// Sets an attribute (exported under its own key).
    pub fn set_attribute(&mut self, key: impl Into<Key>, value: impl Into<Value>) {
        if let Some(r) = &mut self.rec {
            let v = bound(value.into(), r.limit);
            r.data.attributes.push((key.into(), v));
        }
    }

    /// Sets an indexed tag (exported as `tracewell.tag.<key>`).
    pub fn set_tag(&mut self, key: impl Into<Key>, value: impl Into<Value>) {
        if let Some(r) = &mut self.rec {
            let v = bound(value.into(), r.limit);
            r.data.tags.push((key.into(), v));
        }
    }

    /// Adds a timestamped event with attributes.
    pub fn add_event(&mut self, name: impl Into<Key>, attributes: Vec<(Key, Value)>) {
        if let Some(r) = &mut self.rec {
            let time_unix_nano = clock::now_unix_nanos();
            r.data.events.push(Event { name: name.into(), time_unix_nano, attributes });
        }
    }

    /// Records an input by name; scrubbed if the name looks secret, truncated to `max_len`.
    pub fn set_input(&mut self, name: impl Into<Key>, value: impl Into<Value>) {
        if let Some(r) = &mut self.rec {
            let name = name.into();
            let secret = pipeline::with_shared(|s| s.policy.is_secret(&name)).unwrap_or(true);
            let v = if secret { Value::scrubbed() } else { bound(value.into(), r.limit) };
            r.data.inputs.push((name, v));
        }
    }

    /// Records the output value, truncated to `max_len`.
    pub fn set_output(&mut self, value: impl Into<Value>) {
        if let Some(r) = &mut self.rec {
            r.data.output = Some(bound(value.into(), r.limit));
        }
    }

    /// Marks the span failed with `message`.
    pub fn set_error(&mut self, message: impl Into<Cow<'static, str>>) {
        self.set_status(StatusCode::Error, Some(message.into()));
    }

    /// Sets the status code and message.
    pub fn set_status(&mut self, code: StatusCode, message: Option<Cow<'static, str>>) {
        if let Some(r) = &mut self.rec {
            let message = message.map(|m| match truncate(&m, r.limit) {
                Cow::Borrowed(_) => m,
                Cow::Owned(t) => Cow::Owned(t),
            });
            r.data.status = Status { code, message };
        }
    }

    /// Ends the span now (the same as dropping it).
    pub fn end(self) {
        drop(self);
    }

    // ---- used by generated code and wrappers (through `__private`) ----

    /// Records input number `index` of the callsite, unless it is a secret; `capture` runs only
    /// when the value is wanted.
    #[doc(hidden)]
    #[inline]
    pub fn __input(&mut self, index: usize, capture: impl FnOnce(usize) -> Value) {
        if let Some(r) = &mut self.rec {
            let Some(name) = r.inputs.get(index) else { return };
            let secret = if index < 32 {
                r.secret_mask & (1 << index) != 0
            } else {
                pipeline::with_shared(|s| s.policy.is_secret(name)).unwrap_or(true)
            };
            let v = if secret { Value::scrubbed() } else { capture(r.limit) };
            r.data.inputs.push((Cow::Borrowed(*name), v));
        }
    }

    /// Records the output; `capture` runs only for recording spans.
    #[doc(hidden)]
    #[inline]
    pub fn __output(&mut self, capture: impl FnOnce(usize) -> Value) {
        if let Some(r) = &mut self.rec {
            r.data.output = Some(capture(r.limit));
        }
    }

    /// Records an `Err`: status error with `message` and the error's type name as `error.type`.
    #[doc(hidden)]
    #[inline]
    pub fn __error(&mut self, message: impl FnOnce(usize) -> Cow<'static, str>, type_name: &'static str) {
        if let Some(r) = &mut self.rec {
            let message = message(r.limit);
            r.data.status = Status { code: StatusCode::Error, message: Some(message) };
            r.data.attributes.push((Cow::Borrowed(attr::ERROR_TYPE), Value::Str(Cow::Borrowed(type_name))));
        }
    }

    /// Access to the record for wrappers (futures, streams) that add poll and item counts.
    #[doc(hidden)]
    #[inline]
    pub fn __data_mut(&mut self) -> Option<&mut SpanData> {
        self.rec.as_mut().map(|r| &mut r.data)
    }

    /// Nanoseconds since this span started (0 if not recording).
    #[doc(hidden)]
    pub fn __elapsed_ns(&self) -> u64 {
        self.rec.as_ref().map_or(0, |r| clock::Instant::now().duration_since(r.start).as_nanos() as u64)
    }

    /// Restarts the clock: a future's span covers it from its first poll.
    #[doc(hidden)]
    pub fn __restart_clock(&mut self) {
        if let Some(r) = &mut self.rec {
            r.start = clock::Instant::now();
        }
    }

    /// Stops measuring allocations for the whole span: a future measures each poll instead,
    /// since its polls may run on different threads.
    #[doc(hidden)]
    pub fn __take_alloc_scope(&mut self) -> Option<AllocScope> {
        self.rec.as_mut().and_then(|r| r.alloc.take())
    }

    /// If dropped before completion, end with status cancelled.
    #[doc(hidden)]
    pub fn __set_cancel_on_drop(&mut self, on: bool) {
        if let Some(r) = &mut self.rec {
            r.cancel_on_drop = on;
        }
    }
}

fn bound(v: Value, limit: usize) -> Value {
    match v {
        Value::Str(s) => match truncate(&s, limit) {
            Cow::Borrowed(_) => Value::Str(s),
            Cow::Owned(t) => Value::Str(Cow::Owned(t)),
        },
        other => other,
    }
}

impl Drop for Span {
    // Hot path: stamp the end time and hand the record to this thread's ring.
    #[inline]
    fn drop(&mut self) {
        let Some(mut r) = self.rec.take() else { return };
        let end = clock::Instant::now();
        if let Some(scope) = r.alloc.take() {
            scope.finish_into(&mut r.data);
        }
        if std::thread::panicking() {
            if r.data.status.code != StatusCode::Error {
                let msg = super::panic::last_message(r.limit).unwrap_or(Cow::Borrowed("panicked"));
                r.data.status = Status { code: StatusCode::Error, message: Some(msg) };
            }
        } else if r.cancel_on_drop && r.data.status.code == StatusCode::Unset {
            r.data.status =
                Status { code: StatusCode::Cancelled, message: Some(Cow::Borrowed("dropped before completion")) };
        }
        r.end = end;
        pipeline::submit(r);
    }
}

/// A span made current on this thread; dropping it restores the previous current span and ends
/// the span. It cannot cross threads: use [`Span`] with
/// [`Instrumented`](super::Instrumented) for futures.
///
/// A guard dropped while its thread panics records status error with the panic message.
///
/// # Examples
///
/// ```
/// let _g = tracewell::builder().install().unwrap();
/// let parent = tracewell::span("parent").start();
/// let child = tracewell::span("child").start();
/// assert_eq!(tracewell::current().span_id, child.context().span_id);
/// drop(child);
/// assert_eq!(tracewell::current().span_id, parent.context().span_id);
/// ```
#[derive(Debug)]
pub struct SpanGuard {
    span: Span,
    prev: Option<SpanContext>,
    _not_send: PhantomData<*const ()>,
}

impl std::ops::Deref for SpanGuard {
    type Target = Span;
    fn deref(&self) -> &Span {
        &self.span
    }
}

impl std::ops::DerefMut for SpanGuard {
    fn deref_mut(&mut self) -> &mut Span {
        &mut self.span
    }
}

impl SpanGuard {
    /// Ends the span now (the same as dropping the guard).
    pub fn end(self) {
        drop(self);
    }
}

impl Drop for SpanGuard {
    #[inline]
    fn drop(&mut self) {
        if let Some(prev) = self.prev.take() {
            replace_current(prev);
        }
        super::pending::take_into(&mut self.span);
        // `self.span` drops right after, ending the span.
    }
}

/// Builds a manual span: `tracewell::span("name").branch("b").kind(..).start()`.
///
/// # Examples
///
/// ```
/// use tracewell::SpanKind;
/// let _g = tracewell::builder().install().unwrap();
/// {
///     let mut span = tracewell::span("fetch").kind(SpanKind::Client).label("io").start();
///     span.set_tag("env", "prod");
///     span.set_input("url", "https://example.com");
///     span.set_output(200u64);
/// }
/// let s = tracewell::collected().into_iter().find(|s| s.name == "fetch").unwrap();
/// assert_eq!(s.kind, SpanKind::Client);
/// assert_eq!(s.output, Some(tracewell::Value::U64(200)));
/// ```
#[derive(Debug)]
#[must_use = "a span builder does nothing until `.start()`"]
pub struct SpanBuilder {
    name: Key,
    target: Key,
    kind: SpanKind,
    label: Option<Key>,
    branch: Option<Key>,
    parent: Option<SpanContext>,
    sample: Option<f64>,
}

/// Starts building a span named `name`.
pub fn span(name: impl Into<Key>) -> SpanBuilder {
    SpanBuilder {
        name: name.into(),
        target: Cow::Borrowed(""),
        kind: SpanKind::Internal,
        label: None,
        branch: None,
        parent: None,
        sample: None,
    }
}

impl SpanBuilder {
    /// Sets the code path this span stands for.
    pub fn branch(mut self, branch: impl Into<Key>) -> Self {
        self.branch = Some(branch.into());
        self
    }

    /// Sets the span kind.
    pub fn kind(mut self, kind: SpanKind) -> Self {
        self.kind = kind;
        self
    }

    /// Sets a free label.
    pub fn label(mut self, label: impl Into<Key>) -> Self {
        self.label = Some(label.into());
        self
    }

    /// Sets the module path (`code.namespace`).
    pub fn target(mut self, target: impl Into<Key>) -> Self {
        self.target = target.into();
        self
    }

    /// Uses `parent` (e.g. a context extracted from request headers) instead of the current span.
    /// An invalid context is ignored.
    pub fn parent(mut self, parent: impl IntoParent) -> Self {
        self.parent = parent.into_parent().filter(SpanContext::is_valid);
        self
    }

    /// Records only this fraction of these spans (on top of the installed sampler).
    pub fn sample(mut self, ratio: f64) -> Self {
        self.sample = Some(ratio);
        self
    }

    /// Starts the span and makes it current on this thread until the guard drops.
    pub fn start(self) -> SpanGuard {
        self.start_detached().enter()
    }

    /// Starts the span without making it current (to move it into a future or another thread).
    pub fn start_detached(self) -> Span {
        let SpanBuilder { name, target, kind, label, branch, parent, sample } = self;
        begin(parent, sample, |shared, data| {
            data.name = name;
            data.target = target;
            data.kind = kind;
            data.label = label;
            data.branch = branch;
            (shared.policy.max_len, 0, &[])
        })
    }
}

/// Starts a span for a callsite: parent from `parent` or the current span, sampled by the
/// installed sampler and `sample`.
#[inline]
pub(crate) fn start_callsite(cs: &'static Callsite, parent: Option<SpanContext>, sample: Option<f64>) -> Span {
    begin(parent, sample, |shared, data| {
        data.name = Cow::Borrowed(cs.name);
        data.target = Cow::Borrowed(cs.target);
        data.kind = cs.kind;
        if let Some(l) = cs.label {
            data.label = Some(Cow::Borrowed(l));
        }
        if let Some(b) = cs.branch {
            data.branch = Some(Cow::Borrowed(b));
        }
        let limit = if shared.policy.capture { cs.max_len.unwrap_or(shared.policy.max_len) } else { 0 };
        (limit, cs.secret_mask(shared), cs.inputs)
    })
}

// Hot path: one TLS lookup for the pipeline, one for the current context, ids from a thread-local
// generator, one clock read. Unsampled spans stop before anything is allocated.
#[inline]
fn begin(
    parent: Option<SpanContext>,
    sample: Option<f64>,
    fill: impl FnOnce(&Shared, &mut SpanData) -> (usize, u32, &'static [&'static str]),
) -> Span {
    // Fast path: inside a trace that is not sampled, a parent-based sampler says no to every
    // child, so nothing is made at all (no id, no context switch).
    if parent.is_none()
        && sample.is_none()
        && pipeline::parent_based()
        && with_current(|p| p.is_valid() && !p.is_sampled())
    {
        return Span::none();
    }
    let made = pipeline::with_ring(|shared, ring| {
        let span_id = SpanId::random();
        let decide = |p: &SpanContext| {
            let trace_id = if p.is_valid() { p.trace_id } else { TraceId::random() };
            let mut sampled = shared.sampler.should_sample(p, trace_id);
            if sampled && let Some(r) = sample {
                sampled = ratio_hit(r, TraceId(fastrand::u128(..)));
            }
            let inherited = if p.is_valid() { p.trace_flags & !FLAG_SAMPLED } else { FLAG_RANDOM };
            let flags = inherited | if sampled { FLAG_SAMPLED } else { 0 };
            let parent_id = if p.is_valid() { p.span_id } else { SpanId::INVALID };
            (trace_id, parent_id, flags, p.is_remote, p.trace_state.clone())
        };
        let (trace_id, parent_id, flags, remote, state) = match &parent {
            Some(p) => decide(p),
            None => with_current(decide),
        };
        let ctx = SpanContext { trace_id, span_id, trace_flags: flags, is_remote: false, trace_state: state };
        if flags & FLAG_SAMPLED == 0 {
            return Span { ctx, rec: None };
        }
        // Fields are written in place into a recycled box whose record is all defaults, so
        // no span-sized struct is built on the stack and copied.
        let mut rec = ring.recycled();
        let (limit, secret_mask, inputs) = fill(shared, &mut rec.data);
        let data = &mut rec.data;
        data.trace_id = trace_id;
        data.span_id = span_id;
        data.parent_span_id = parent_id;
        data.parent_is_remote = remote;
        data.trace_flags = flags;
        if ctx.trace_state.is_some() {
            data.trace_state = ctx.trace_state.clone();
        }
        rec.limit = limit;
        rec.secret_mask = secret_mask;
        rec.inputs = inputs;
        rec.cancel_on_drop = false;
        rec.alloc = crate::alloc::is_active().then(AllocScope::begin);
        let now = clock::Instant::now();
        rec.start = now;
        rec.end = now;
        Span { ctx, rec: Some(rec) }
    });
    made.unwrap_or(Span::none())
}
