//! Starting and ending spans: the [`Span`] handle, the [`SpanGuard`] that makes it current and
//! the [`SpanBuilder`] for manual spans. Functions are described by a static
//! [`Callsite`](crate::Callsite) the macros make.

use std::borrow::Cow;
use std::marker::PhantomData;
use std::sync::atomic::Ordering;

use super::{current_ids, current_state};
use crate::alloc::AllocScope;
use crate::capture::truncate;
use crate::clock::{self, Ticks};
use crate::pipeline::{self, Shared};
use crate::sampler::ratio_hit;
use crate::span::Ids;
use crate::span::record::Recording;
use crate::span::{
    Callsite, Event, FLAG_RANDOM, FLAG_SAMPLED, Key, SpanContext, SpanId, SpanKind, StatusCode, TraceId, Value, attr,
};

/// Which of `cs`'s inputs are secrets under the installed policy, cached per pipeline generation.
#[inline]
fn secret_mask(cs: &Callsite, shared: &Shared) -> u32 {
    let cached = cs.secrets.load(Ordering::Relaxed);
    if cached >> 32 == shared.generation & 0xffff_ffff && cached >> 32 != 0 {
        return cached as u32;
    }
    let mut mask = 0u32;
    for (i, name) in cs.inputs.iter().take(32).enumerate() {
        if shared.policy.is_secret(name) {
            mask |= 1 << i;
        }
    }
    cs.secrets.store(((shared.generation & 0xffff_ffff) << 32) | mask as u64, Ordering::Relaxed);
    mask
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
// One pointer: the record (a box this thread reuses) holds the context too, so a span moves
// as cheaply as a `Box`. A span with a context but not sampled has a record that records nothing.
#[derive(Debug)]
pub struct Span {
    rec: Option<Box<Recording>>,
}

/// The context of a span that has none.
static NO_CONTEXT: SpanContext = SpanContext::NONE;

impl Span {
    /// A span that records nothing and has no context.
    pub const fn none() -> Span {
        Span { rec: None }
    }

    /// This span's context, for children and for headers.
    #[inline]
    pub fn context(&self) -> &SpanContext {
        self.rec.as_ref().map_or(&NO_CONTEXT, |r| &r.ctx)
    }

    /// Whether this span is sampled and will be exported.
    #[inline]
    pub fn is_recording(&self) -> bool {
        self.rec.as_ref().is_some_and(|r| r.sampled)
    }

    /// The record, when this span records.
    #[inline]
    fn recording(&mut self) -> Option<&mut Recording> {
        self.rec.as_deref_mut().filter(|r| r.sampled)
    }

    /// Makes this span current on this thread until the guard drops; the span ends with it.
    // Hot path: inlined, so that a span that records nothing costs its caller one test here.
    #[inline(always)]
    pub fn enter(mut self) -> SpanGuard {
        // A span with no context (nothing installed, or inside an unsampled trace) leaves the
        // current context alone: children then see the same parent and decide the same way.
        if let Some(r) = &mut self.rec {
            r.prev = super::swap_in(&r.ctx);
        }
        SpanGuard { span: self, _not_send: PhantomData }
    }

    /// The longest captured text for this span.
    #[inline]
    pub fn max_len(&self) -> usize {
        self.rec.as_ref().filter(|r| r.sampled).map_or(0, |r| r.limit)
    }

    /// Sets an attribute (exported under its own key).
    pub fn set_attribute(&mut self, key: impl Into<Key>, value: impl Into<Value>) {
        if let Some(r) = self.recording() {
            let v = bound(value.into(), r.limit);
            r.extra().attributes.push((key.into(), v));
        }
    }

    /// Sets an indexed tag (exported as `tracewell.tag.<key>`).
    pub fn set_tag(&mut self, key: impl Into<Key>, value: impl Into<Value>) {
        if let Some(r) = self.recording() {
            let v = bound(value.into(), r.limit);
            r.extra().tags.push((key.into(), v));
        }
    }

    /// Adds a timestamped event with attributes.
    pub fn add_event(&mut self, name: impl Into<Key>, attributes: Vec<(Key, Value)>) {
        if let Some(r) = self.recording() {
            let time_unix_nano = clock::now_unix_nanos();
            r.extra().events.push(Event { name: name.into(), time_unix_nano, attributes });
        }
    }

    /// Records an input by name; scrubbed if the name looks secret, truncated to `max_len`.
    pub fn set_input(&mut self, name: impl Into<Key>, value: impl Into<Value>) {
        if let Some(r) = self.recording() {
            let name = name.into();
            let secret = pipeline::with_thread(|t| t.shared().policy.is_secret(&name)).unwrap_or(true);
            let v = if secret { Value::scrubbed() } else { bound(value.into(), r.limit) };
            r.named_input(&name, &v);
        }
    }

    /// Records the output value, truncated to `max_len`.
    pub fn set_output(&mut self, value: impl Into<Value>) {
        if let Some(r) = self.recording() {
            r.set_output(&bound(value.into(), r.limit));
        }
    }

    /// Marks the span failed with `message`.
    pub fn set_error(&mut self, message: impl Into<Cow<'static, str>>) {
        self.set_status(StatusCode::Error, Some(message.into()));
    }

    /// Sets the status code and message.
    pub fn set_status(&mut self, code: StatusCode, message: Option<Cow<'static, str>>) {
        if let Some(r) = self.recording() {
            let message = message.map(|m| match truncate(&m, r.limit) {
                Cow::Borrowed(_) => m,
                Cow::Owned(t) => Cow::Owned(t),
            });
            r.status = code;
            if message.is_some() || code == StatusCode::Unset {
                r.extra().status_message = message;
            }
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
        if let Some(r) = self.recording() {
            let secret = if index < 32 {
                r.secret_mask & (1 << index) != 0
            } else {
                let Some(name) = r.site.and_then(|cs| cs.inputs.get(index)) else { return };
                pipeline::with_thread(|t| t.shared().policy.is_secret(name)).unwrap_or(true)
            };
            if secret {
                r.input(index, Value::scrubbed());
            } else {
                let v = capture(r.limit);
                r.input(index, v);
            }
        }
    }

    /// Records the output; `capture` runs only for recording spans.
    #[doc(hidden)]
    #[inline]
    pub fn __output(&mut self, capture: impl FnOnce(usize) -> Value) {
        if let Some(r) = self.recording() {
            let v = capture(r.limit);
            r.set_output_owned(v);
        }
    }

    /// Records an `Err`: status error with `message` and the error's type name as `error.type`.
    #[doc(hidden)]
    #[inline]
    pub fn __error(&mut self, message: impl FnOnce(usize) -> Cow<'static, str>, type_name: &'static str) {
        if let Some(r) = self.recording() {
            let message = message(r.limit);
            r.status = StatusCode::Error;
            let x = r.extra();
            x.status_message = Some(message);
            x.attributes.push((Cow::Borrowed(attr::ERROR_TYPE), Value::Str(Cow::Borrowed(type_name))));
        }
    }

    /// Adds one poll of a future or stream: `busy` clock ticks, and whether it returned
    /// `Pending`.
    #[inline]
    pub(crate) fn record_poll(&mut self, busy: Ticks, pending: bool) {
        if let Some(r) = self.recording() {
            r.polls = r.polls.saturating_add(1);
            r.busy += busy;
            if pending {
                r.pending_polls = r.pending_polls.saturating_add(1);
            }
        }
    }

    /// Adds polls that were counted but not timed (a stream times one poll in several), with
    /// `busy` ticks estimated for them.
    #[inline]
    pub(crate) fn record_untimed_polls(&mut self, polls: u32, pending: u32, busy: Ticks) {
        if let Some(r) = self.recording() {
            r.polls = r.polls.saturating_add(polls);
            r.pending_polls = r.pending_polls.saturating_add(pending);
            r.busy += busy;
        }
    }

    /// Sets the item count of a stream or iterator span.
    #[inline]
    pub(crate) fn set_items(&mut self, n: u64) {
        if let Some(r) = self.recording() {
            r.items = Some(n);
        }
    }

    /// Marks the first item: the time to it from the start.
    pub(crate) fn first_item_at(&mut self, now: Ticks) {
        if let Some(r) = self.recording() {
            r.first_item = Some(now.saturating_sub(r.start()));
        }
    }

    /// Sets the output to a value already bounded (wrappers capture items themselves).
    pub(crate) fn set_output_value(&mut self, v: &Value) {
        if let Some(r) = self.recording() {
            r.set_output(v);
        }
    }

    /// The status code so far (`Unset` when not recording).
    pub(crate) fn status_code(&self) -> StatusCode {
        self.rec.as_ref().filter(|r| r.sampled).map_or(StatusCode::Unset, |r| r.status)
    }

    /// Adds an event with a time already read.
    pub(crate) fn push_event(&mut self, event: Event) {
        if let Some(r) = self.recording() {
            r.extra().events.push(event);
        }
    }

    /// Starts the clock at `now` (a future's span covers it from its first poll).
    #[inline]
    pub(crate) fn start_at(&mut self, now: Ticks) {
        if let Some(r) = self.recording() {
            r.start_at(now);
        }
    }

    /// Stops measuring allocations for the whole span: a future measures each poll instead,
    /// since its polls may run on different threads.
    pub(crate) fn take_alloc_scope(&mut self) -> Option<AllocScope> {
        self.recording().and_then(|r| r.alloc.take())
    }

    /// Adds allocation figures (bytes summed, peak the larger).
    pub(crate) fn add_alloc(&mut self, figures: (u64, u64)) {
        if let Some(r) = self.recording() {
            r.add_alloc(figures);
        }
    }

    /// If dropped before completion, end with status cancelled.
    #[inline]
    pub(crate) fn set_cancel_on_drop(&mut self, on: bool) {
        if let Some(r) = self.recording() {
            r.cancel_on_drop = on;
        }
    }

    /// Ends the span at `end` (read by the caller for its own purposes) instead of now.
    #[inline]
    pub(crate) fn end_at(mut self, end: Ticks) {
        if let Some(r) = self.rec.take() {
            finish(r, end);
        }
    }
}

// Hot path: stamp the end time and write the record into this thread's chunk.
#[inline]
fn finish(mut r: Box<Recording>, end: Ticks) {
    if !r.sampled {
        // A context only: the record goes back to be reused.
        pipeline::recycle(r);
        return;
    }
    if r.start() == 0 {
        // A future dropped before its first poll: it took no time.
        r.start_at(end);
    }
    if let Some(scope) = r.alloc.take() {
        r.add_alloc(scope.end());
    }
    if std::thread::panicking() {
        if r.status != StatusCode::Error {
            let msg = super::panic::last_message(r.limit).unwrap_or(Cow::Borrowed("panicked"));
            r.status = StatusCode::Error;
            r.extra().status_message = Some(msg);
        }
    } else if r.cancel_on_drop && r.status == StatusCode::Unset {
        r.status = StatusCode::Cancelled;
        r.extra().status_message = Some(Cow::Borrowed("dropped before completion"));
    }
    pipeline::submit(r, end);
}

impl crate::alloc::AllocScope {
    /// Ends the scope and records the figures on `span` (nothing if it is not recording).
    pub fn finish(self, span: &mut Span) {
        span.add_alloc(self.end());
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

// Hot path: a span that records nothing (`Span::none`, an unsampled call) costs one test here;
// the work of ending one that records is a call away, so this stays small enough to inline.
impl Drop for Span {
    #[inline(always)]
    fn drop(&mut self) {
        if let Some(r) = self.rec.take() {
            end_now(r);
        }
    }
}

#[inline(never)]
fn end_now(r: Box<Recording>) {
    let end = if r.sampled { clock::now() } else { 0 };
    finish(r, end);
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
pub struct SpanGuard {
    span: Span,
    _not_send: PhantomData<*const ()>,
}

impl Drop for SpanGuard {
    // The previous context comes back, then the span (a field) ends.
    #[inline(always)]
    fn drop(&mut self) {
        // A guard over no span (an unsampled call) changed nothing: one test.
        if self.span.rec.is_some() {
            exit(&mut self.span);
        }
    }
}

#[inline(never)]
fn exit(span: &mut Span) {
    if let Some(prev) = span.rec.as_mut().and_then(|r| r.prev.take()) {
        super::restore(prev);
    }
    // Events made while this span was current by code that cannot reach it (`log`,
    // `tracing`), when the bridge is built.
    super::pending::take_into(span);
}

impl std::fmt::Debug for SpanGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SpanGuard").field("span", &self.span).finish_non_exhaustive()
    }
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
        let ids = parent.as_ref().map_or_else(current_ids, Ids::of);
        if parent.is_none() && sample.is_none() && unsampled_inside(&ids) {
            return Span::none();
        }
        begin(ids, parent, sample, true, None, |shared, rec| {
            rec.kind = kind;
            let x = rec.extra();
            x.name = name;
            x.target = target;
            x.label = label;
            x.branch = branch;
            rec.limit = shared.policy.max_len;
            rec.secret_mask = 0;
        })
    }
}

/// Starts a span for a callsite: parent from `parent` or the current span, sampled by the
/// installed sampler and `sample`. With `clock` false the span's clock starts later (a future's
/// at its first poll), so no clock read is spent now.
#[inline(always)]
pub(crate) fn start_callsite(
    cs: &'static Callsite,
    parent: Option<SpanContext>,
    sample: Option<f64>,
    clock: bool,
) -> Span {
    let ids = parent.as_ref().map_or_else(current_ids, Ids::of);
    if parent.is_none() && sample.is_none() && unsampled_inside(&ids) {
        return Span::none();
    }
    // Names, module path, label, branch and argument names stay in the callsite; the record
    // refers to it by number.
    begin(ids, parent, sample, clock, Some(cs), |shared, rec| {
        rec.kind = cs.kind;
        rec.limit = if shared.policy.capture { cs.max_len.unwrap_or(shared.policy.max_len) } else { 0 };
        rec.secret_mask = secret_mask(cs, shared);
    })
}

/// Whether a span starting under the current context `ids` is certain not to be sampled: inside
/// a trace that is not sampled, a parent-based sampler says no to every child, so nothing is
/// made at all (no id, no context switch).
// Hot path: an unsampled call costs this test and the thread-local read before it.
#[inline(always)]
fn unsampled_inside(ids: &Ids) -> bool {
    ids.trace_id.is_valid()
        && ids.span_id.is_valid()
        && ids.trace_flags() & FLAG_SAMPLED == 0
        && pipeline::parent_based()
}

// Hot path: one thread-local lookup for the pipeline (ids from its generator, a record it used
// before), one clock read. Inlined: out of line it cost the sampled call ~45 instructions more
// (arguments through memory) and the unsampled one nothing less (callgrind, examples/hotpath).
#[inline]
fn begin(
    ids: Ids,
    parent: Option<SpanContext>,
    sample: Option<f64>,
    clock: bool,
    site: Option<&'static Callsite>,
    fill: impl FnOnce(&Shared, &mut Recording),
) -> Span {
    let (trace_id, parent_id, parent_flags) = (ids.trace_id, ids.span_id, ids.trace_flags());
    let (remote, has_state) = (ids.is_remote(), ids.has_state());
    let valid = trace_id.is_valid() && parent_id.is_valid();
    let parent_sampled = parent_flags & FLAG_SAMPLED != 0;
    let made = pipeline::with_thread(|thread| {
        let trace_id = if valid { trace_id } else { thread.trace_id() };
        let span_id = thread.span_id();
        let mut sampled = thread.shared().sampler.decide(valid, parent_sampled, trace_id);
        if sampled && let Some(r) = sample {
            sampled = ratio_hit(r, TraceId(u128::from(thread.random())));
        }
        let inherited = if valid { parent_flags & !FLAG_SAMPLED } else { FLAG_RANDOM };
        let flags = inherited | if sampled { FLAG_SAMPLED } else { 0 };
        let state = if has_state {
            match &parent {
                Some(p) => p.trace_state.clone(),
                None => current_state(),
            }
        } else {
            None
        };
        // Written in place into a box this thread used before: no span-sized struct is built on
        // the stack and copied.
        let mut rec = thread.recycled();
        rec.ctx = SpanContext { trace_id, span_id, trace_flags: flags, is_remote: false, trace_state: state };
        rec.sampled = sampled;
        if !sampled {
            return Span { rec: Some(rec) };
        }
        let parent_id = if valid { parent_id } else { SpanId::INVALID };
        rec.begin(trace_id, span_id, parent_id, flags, valid && remote, site);
        fill(thread.shared(), &mut rec);
        if rec.ctx.trace_state.is_some() {
            let state = rec.ctx.trace_state.clone();
            rec.extra().trace_state = state;
        }
        if crate::alloc::is_active() {
            rec.alloc = Some(AllocScope::begin());
        }
        rec.start_at(if clock { clock::now() } else { 0 });
        Span { rec: Some(rec) }
    });
    made.unwrap_or_else(Span::none)
}
