//! Starting spans: the parent (given, or the span current on this thread), the sampling
//! decision, a record this thread used before, the start time. [`SpanBuilder`] starts manual
//! spans; [`start_callsite`] the spans of `#[traced]` functions, described by a static
//! [`Callsite`](crate::Callsite).

use std::borrow::Cow;
use std::sync::atomic::Ordering;

use super::handle::{Span, SpanGuard};
use super::{current_ids, current_state};
use crate::alloc::AllocScope;
use crate::clock;
use crate::pipeline::{self, Shared};
use crate::sampler::ratio_hit;
use crate::span::Ids;
use crate::span::record::Recording;
use crate::span::{Callsite, FLAG_RANDOM, FLAG_SAMPLED, Key, SpanContext, SpanId, SpanKind, TraceId};

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
