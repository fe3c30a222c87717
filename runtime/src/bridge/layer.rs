//! The `tracing-subscriber` layer: each `tracing` span becomes a tracewell span, kept in the
//! registry's extensions of that span until it closes; entering it makes it tracewell's current
//! span on that thread, so `#[traced]` calls inside it are its children and it is the child of
//! whatever tracewell span was current when it was made.

use crate::clock::{self, Ticks};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};

use tracing_core::span::{Attributes, Id, Record};
use tracing_core::{Event, Subscriber};
use tracing_subscriber::layer::{Context, Layer};
use tracing_subscriber::registry::LookupSpan;

use super::fields::{self, AttributeVisitor, EventVisitor, Head, HeadVisitor, LEVEL, OtelStatus, Out};
use crate::context::{Span, span as build_span};
use crate::context::{SpanContext, pending, replace_current};
use crate::span::{Value, attr};

/// Attribute key of the time a `tracing` span existed without being entered, in nanoseconds
/// (its busy time is [`attr::BUSY_NS`]), for spans entered more than once.
///
/// # Examples
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt as _;
/// let _tracing = tracewell::builder().install().unwrap();
/// let subscriber = tracing_subscriber::registry().with(tracewell::bridge::tracing_layer());
/// tracing::subscriber::with_default(subscriber, || {
///     let poll = tracing::info_span!("poll");
///     poll.in_scope(|| ());
///     poll.in_scope(|| ());
/// });
/// let poll = tracewell::collected().into_iter().find(|s| s.name == "poll").unwrap();
/// assert!(poll.attribute(tracewell::bridge::IDLE_NS).is_some());
/// assert!(poll.attribute("tracewell.busy_ns").is_some());
/// ```
pub const IDLE_NS: &str = "tracewell.idle_ns";

/// A [`tracing_subscriber::Layer`] that records `tracing` spans and events as tracewell spans and
/// span events. Made by [`tracing_layer`].
///
/// It has no level filter of its own: `tracing_subscriber`'s filters apply to it like to any
/// layer.
///
/// # Examples
///
/// ```
/// use tracing_subscriber::Layer as _;
/// use tracing_subscriber::filter::LevelFilter;
/// use tracing_subscriber::layer::SubscriberExt as _;
/// let _tracing = tracewell::builder().install().unwrap();
/// let layer = tracewell::bridge::TracingLayer::default().with_filter(LevelFilter::INFO);
/// tracing::subscriber::with_default(tracing_subscriber::registry().with(layer), || {
///     tracing::info_span!("load", rows = 42u64).in_scope(|| ());
///     tracing::debug_span!("too_verbose").in_scope(|| ());
/// });
/// let spans = tracewell::collected();
/// let load = spans.iter().find(|s| s.name == "load").unwrap();
/// assert_eq!(load.attribute("rows"), Some(&tracewell::Value::U64(42)));
/// assert!(!spans.iter().any(|s| s.name == "too_verbose"));
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct TracingLayer {
    _private: (),
}

/// The layer that joins `tracing` to tracewell: install it on a `tracing_subscriber` registry and
/// spans from tokio, hyper, tower-http, sqlx and every other crate that emits `tracing` spans
/// land in the same traces as `#[traced]` spans.
///
/// - A `tracing` span made while a tracewell span is current is its child; a `#[traced]` call
///   made while a `tracing` span is entered is a child of that span (across `.await` and threads,
///   since `tracing`'s `Instrument` enters the span on every poll).
/// - Fields become attributes, typed for integers, floats and bools; the level is
///   `tracing.level`, the target `code.namespace`. `Span::record` adds fields later.
/// - Events become span events; an `ERROR` event sets the span's status to error unless it has one.
/// - The field `branch` is the span's branch (scored like `#[monitor(branch = ..)]`);
///   `otel.name`, `otel.kind`, `otel.status_code` and `otel.status_message` work as with
///   `tracing-opentelemetry`.
/// - The spans are sampled, scrubbed, truncated and exported like every other tracewell span. A
///   span entered more than once (a future's span is entered at each poll) records its busy and
///   idle time as `tracewell.busy_ns` and [`IDLE_NS`].
///
/// # Examples
///
/// ```
/// use tracing_subscriber::layer::SubscriberExt as _;
/// let _tracing = tracewell::builder().install().unwrap();
/// let subscriber = tracing_subscriber::registry().with(tracewell::bridge::tracing_layer());
/// tracing::subscriber::with_default(subscriber, || {
///     let request = tracing::info_span!("request", method = "GET");
///     let _entered = request.enter();
///     tracewell::in_span("handler", || tracing::error!(code = 7u64, "no such user"));
/// });
/// let spans = tracewell::collected();
/// let request = spans.iter().find(|s| s.name == "request").unwrap();
/// let handler = spans.iter().find(|s| s.name == "handler").unwrap();
/// assert_eq!(handler.parent_span_id, request.span_id);
/// assert_eq!(handler.events[0].name, "no such user");
/// assert_eq!(handler.status.code, tracewell::StatusCode::Error);
/// ```
pub fn tracing_layer() -> TracingLayer {
    TracingLayer::default()
}

/// What the layer keeps in a `tracing` span's extensions.
struct Bridged {
    span: Span,
    /// When the span itself is not sampled and has no context: the unsampled context its
    /// children must see instead, so they are not sampled either (rare, so boxed).
    unsampled_parent: Option<Box<SpanContext>>,
    created: Ticks,
    /// Entered on some thread right now, counted across threads.
    depth: u32,
    /// Times entered, saturating.
    entries: u32,
    entered_at: Ticks,
    busy_ns: u64,
    otel_status: OtelStatus,
}

/// Where a new span or event belongs.
enum Parent {
    /// Whatever tracewell span is current on this thread.
    Current,
    /// This context (an explicit `parent:`).
    Explicit(SpanContext),
    /// The explicit parent is not sampled: neither is this.
    Unsampled(SpanContext),
    /// `parent: None`: a new trace.
    Root,
}

thread_local! {
    /// `tracing` spans entered on this thread, innermost last, with the tracewell context each
    /// one replaced (`None` when entering it left the current context alone).
    static ENTERED: RefCell<Vec<(Id, Option<SpanContext>)>> = const { RefCell::new(Vec::new()) };
    /// 0: not known yet, 1: a user's thread, 2: one of tracewell's own (worker, exporter I/O).
    static OWN_THREAD: Cell<u8> = const { Cell::new(0) };
}

/// Whether this is one of tracewell's own threads, whose `tracing` spans (from the HTTP and gRPC
/// clients of exporters) would otherwise be exported and make more of themselves.
#[inline]
fn own_thread() -> bool {
    OWN_THREAD
        .try_with(|c| match c.get() {
            0 => {
                let own = std::thread::current().name().is_some_and(|n| n.starts_with("tracewell-"));
                c.set(if own { 2 } else { 1 });
                own
            }
            v => v == 2,
        })
        .unwrap_or(true)
}

impl<S> Layer<S> for TracingLayer
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // Hot path: one pipeline lookup for the callsite's cached field shape, one tracewell span
    // start, one visit of the fields written straight into the span, one extensions insert.
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        if own_thread() {
            return;
        }
        let meta = attrs.metadata();
        let Some((shape, limit)) = fields::shape(meta) else { return };
        let mut head = Head::default();
        if shape.has_special() {
            attrs.record(&mut HeadVisitor { head: &mut head, shape, limit });
        }
        let parent = if let Some(p) = attrs.parent() {
            explicit(&ctx, p)
        } else if attrs.is_root() {
            Parent::Root
        } else {
            Parent::Current
        };
        let mut otel_status = OtelStatus::default();
        let name = head.name.take().unwrap_or(Cow::Borrowed(meta.name()));
        let mut builder = build_span(name).target(Cow::Borrowed(meta.target()));
        if let Some(kind) = head.kind.take() {
            builder = builder.kind(kind);
        }
        if let Some(branch) = head.branch.take() {
            builder = builder.branch(branch);
        }
        let mut span = match &parent {
            Parent::Current => builder.start_detached(),
            Parent::Explicit(p) => builder.parent(p).start_detached(),
            Parent::Unsampled(_) => Span::none(),
            Parent::Root => {
                let outer = replace_current(SpanContext::NONE);
                let span = builder.start_detached();
                replace_current(outer);
                span
            }
        };
        if span.is_recording() {
            span.set_attribute(Cow::Borrowed(LEVEL), Value::Str(Cow::Borrowed(meta.level().as_str())));
            let limit = span.max_len();
            let out = Out::Span(&mut span);
            attrs.record(&mut AttributeVisitor { out, shape, limit, late: false, head: Head::default() });
            otel_status.update(&mut head, &mut span);
        }
        let unsampled_parent = if span.context().is_valid() {
            None
        } else {
            match parent {
                Parent::Current => Some(crate::current()),
                Parent::Explicit(p) | Parent::Unsampled(p) => Some(p),
                Parent::Root => None,
            }
            .filter(SpanContext::is_valid)
            .map(Box::new)
        };
        let Some(span_ref) = ctx.span(id) else { return };
        let now = clock::now();
        // `replace`, not `insert`, which panics when the layer is installed twice: then the span
        // is recorded twice rather than the program stopped.
        let _ = span_ref.extensions_mut().replace(Bridged {
            span,
            unsampled_parent,
            created: now,
            depth: 0,
            entries: 0,
            entered_at: now,
            busy_ns: 0,
            otel_status,
        });
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: Context<'_, S>) {
        let Some(span_ref) = ctx.span(id) else { return };
        let Some((shape, limit)) = fields::shape(span_ref.metadata()) else { return };
        // Read the values before taking the extensions' lock: a `Debug` impl may emit `tracing`.
        let mut visitor =
            AttributeVisitor { out: Out::Buffer(Vec::new()), shape, limit, late: true, head: Head::default() };
        values.record(&mut visitor);
        let AttributeVisitor { out: Out::Buffer(attributes), mut head, .. } = visitor else { return };
        let mut ext = span_ref.extensions_mut();
        let Some(b) = ext.get_mut::<Bridged>() else { return };
        for (k, v) in attributes {
            b.span.set_attribute(k, v);
        }
        b.otel_status.update(&mut head, &mut b.span);
    }

    fn on_event(&self, event: &Event<'_>, ctx: Context<'_, S>) {
        let meta = event.metadata();
        if let Some(parent) = event.parent() {
            // An explicit parent: straight into that span.
            let Some(span_ref) = ctx.span(parent) else { return };
            let Some((shape, limit)) = fields::shape(meta) else { return };
            let (ev, error) = event_of(event, shape, limit);
            let mut ext = span_ref.extensions_mut();
            if let Some(b) = ext.get_mut::<Bridged>() {
                pending::attach(&mut b.span, ev, error);
            }
        } else if event.is_contextual() {
            // The current tracewell span may be a `#[traced]` one this layer cannot reach: the
            // event waits for it on this thread.
            let Some(span_id) = pending::current_recording() else { return };
            let Some((shape, limit)) = fields::shape(meta) else { return };
            let (ev, error) = event_of(event, shape, limit);
            pending::push(span_id, ev, error);
        }
    }

    fn on_enter(&self, id: &Id, ctx: Context<'_, S>) {
        let Some(span_ref) = ctx.span(id) else { return };
        let mut ext = span_ref.extensions_mut();
        let Some(b) = ext.get_mut::<Bridged>() else { return };
        if b.depth == 0 {
            b.entered_at = clock::now();
        }
        b.depth += 1;
        b.entries = b.entries.saturating_add(1);
        let enter = if b.span.context().is_valid() {
            Some(b.span.context().clone())
        } else {
            b.unsampled_parent.as_deref().cloned()
        };
        drop(ext);
        let replaced = enter.map(replace_current);
        let _ = ENTERED.try_with(|e| {
            if let Ok(mut e) = e.try_borrow_mut() {
                e.push((id.clone(), replaced));
            }
        });
    }

    fn on_exit(&self, id: &Id, ctx: Context<'_, S>) {
        if let Some(span_ref) = ctx.span(id) {
            let mut ext = span_ref.extensions_mut();
            if let Some(b) = ext.get_mut::<Bridged>() {
                b.depth = b.depth.saturating_sub(1);
                if b.depth == 0 {
                    b.busy_ns += clock::nanos_between(b.entered_at, clock::now());
                }
                pending::take_into(&mut b.span);
            }
        }
        let restore = ENTERED.try_with(|e| e.try_borrow_mut().ok().and_then(|mut e| unwind(&mut e, id))).ok().flatten();
        if let Some(prev) = restore {
            replace_current(prev);
        }
    }

    fn on_close(&self, id: Id, ctx: Context<'_, S>) {
        let Some(span_ref) = ctx.span(&id) else { return };
        let Some(mut b) = span_ref.extensions_mut().remove::<Bridged>() else { return };
        // A span entered once is busy for about its duration: only spans entered again and again
        // (a future's span, entered at each poll) say more with busy and idle time.
        if b.span.is_recording() && b.entries > 1 {
            let now = clock::now();
            let mut busy = b.busy_ns;
            if b.depth > 0 {
                busy += clock::nanos_between(b.entered_at, now);
            }
            let lifetime = clock::nanos_between(b.created, now);
            b.span.set_attribute(Cow::Borrowed(attr::BUSY_NS), Value::U64(busy));
            b.span.set_attribute(Cow::Borrowed(IDLE_NS), Value::U64(lifetime.saturating_sub(busy)));
        }
        // Dropping the span ends it and hands it to the pipeline.
    }
}

/// The context of an explicit parent, as the layer recorded it.
fn explicit<S>(ctx: &Context<'_, S>, parent: &Id) -> Parent
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    // A parent this layer never saw (filtered out for it) makes a new root, as the
    // OpenTelemetry layer does, rather than guessing.
    let Some(span_ref) = ctx.span(parent) else { return Parent::Root };
    let ext = span_ref.extensions();
    let Some(b) = ext.get::<Bridged>() else { return Parent::Root };
    if b.span.context().is_valid() {
        Parent::Explicit(b.span.context().clone())
    } else {
        b.unsampled_parent.as_deref().cloned().map_or(Parent::Root, Parent::Unsampled)
    }
}

/// A span event from a `tracing` event, and the status message if it is at `ERROR`.
fn event_of(event: &Event<'_>, shape: fields::Shape, limit: usize) -> (crate::span::Event, Option<Cow<'static, str>>) {
    let meta = event.metadata();
    let mut v = EventVisitor { shape, limit, message: None, attributes: Vec::with_capacity(meta.fields().len() + 1) };
    v.attributes.push((Cow::Borrowed(LEVEL), Value::Str(Cow::Borrowed(meta.level().as_str()))));
    v.attributes.push((Cow::Borrowed(attr::TARGET), Value::Str(Cow::Borrowed(meta.target()))));
    event.record(&mut v);
    let name = v.message.unwrap_or(Cow::Borrowed(meta.name()));
    let error = (*meta.level() == tracing_core::Level::ERROR).then(|| name.clone());
    (pending::event(name, v.attributes), error)
}

/// Takes span `id`'s entry off this thread's stack of entered spans and returns the context to
/// make current again, if its exit is what changes the current context.
///
/// Spans usually exit in the reverse order of entering; when one exits out of order, the span
/// above it that replaced its context inherits what it had replaced, so a later exit still
/// restores the context from before both.
fn unwind(stack: &mut Vec<(Id, Option<SpanContext>)>, id: &Id) -> Option<SpanContext> {
    let at = stack.iter().rposition(|(i, _)| i == id)?;
    let (_, replaced) = stack.remove(at);
    let replaced = replaced?;
    match stack[at..].iter_mut().find(|(_, r)| r.is_some()) {
        Some((_, above)) => {
            *above = Some(replaced);
            None
        }
        None => Some(replaced),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::span::{SpanId, TraceId};

    fn ctx(n: u64) -> SpanContext {
        SpanContext::remote(TraceId(1), SpanId(n), true)
    }

    #[test]
    fn nested_exits_restore_in_reverse_order() {
        let mut stack = vec![(Id::from_u64(1), Some(ctx(10))), (Id::from_u64(2), Some(ctx(1)))];
        assert_eq!(unwind(&mut stack, &Id::from_u64(2)), Some(ctx(1)));
        assert_eq!(unwind(&mut stack, &Id::from_u64(1)), Some(ctx(10)));
        assert!(stack.is_empty());
    }

    #[test]
    fn an_out_of_order_exit_hands_its_context_to_the_span_above() {
        let mut stack = vec![(Id::from_u64(1), Some(ctx(10))), (Id::from_u64(2), Some(ctx(1)))];
        assert_eq!(unwind(&mut stack, &Id::from_u64(1)), None, "span 2 is still current");
        assert_eq!(unwind(&mut stack, &Id::from_u64(2)), Some(ctx(10)), "back to before both");
    }

    #[test]
    fn a_span_that_left_the_context_alone_restores_nothing() {
        let mut stack = vec![(Id::from_u64(1), Some(ctx(10))), (Id::from_u64(2), None)];
        assert_eq!(unwind(&mut stack, &Id::from_u64(2)), None);
        assert_eq!(unwind(&mut stack, &Id::from_u64(3)), None, "unknown span");
        assert_eq!(unwind(&mut stack, &Id::from_u64(1)), Some(ctx(10)));
    }
}
