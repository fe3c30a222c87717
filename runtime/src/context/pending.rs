//! Events for the current span from code that does not own its [`Span`]: the `tracing` and `log`
//! bridges ([`crate::bridge`]).
//!
//! A `#[traced]` function's span lives in a guard on that function's stack, so a `log::warn!` or
//! a `tracing::info!` made inside it cannot reach it. Such an event waits in a small per-thread
//! buffer, keyed by the span id that was current, until that span stops being current on this
//! thread: there its owner (the guard, the instrumented future, the traced stream or iterator, or
//! the bridge's own `tracing` span) takes the events that are its own ([`take_into`]). A future
//! that moves between threads takes each thread's events at the end of the poll that made them.
//!
//! ```text
//!  log::warn!() / tracing::info!()  ──push(current span id, event)──▶ [per-thread buffer, ≤ 256]
//!  span stops being current here (guard drop, end of a poll, bridge on_exit) ──take_into(span)──┘
//! ```
//!
//! The buffer is bounded: an event whose span never takes it (its context was made current
//! without its span, e.g. by [`set_current`](super::set_current)) is dropped once 256 newer ones
//! wait. Without the `tracing` and `log` features this module is empty and [`take_into`] is a
//! no-op the compiler removes.

use super::handle::Span;

#[cfg(feature = "tracing")]
pub(crate) use imp::attach;
#[cfg(any(feature = "tracing", feature = "log"))]
pub(crate) use imp::{current_recording, event, push};

/// Moves the events waiting for `span` on this thread into it. An error event sets the span's
/// status to error unless it already has one.
// Hot path (every guard drop and every poll of a traced future or stream): one thread-local load
// when nothing waits.
#[inline]
pub(crate) fn take_into(span: &mut Span) {
    #[cfg(any(feature = "tracing", feature = "log"))]
    imp::take_into(span);
    #[cfg(not(any(feature = "tracing", feature = "log")))]
    let _ = span;
}

#[cfg(any(feature = "tracing", feature = "log"))]
mod imp {
    use std::borrow::Cow;
    use std::cell::{Cell, RefCell};

    use super::Span;
    use crate::clock;
    use crate::span::{Event, Key, SpanId, StatusCode, Value};

    /// Events at most waiting on one thread.
    const CAP: usize = 256;

    struct Pending {
        span_id: SpanId,
        event: Event,
        /// The status message when the event is an error.
        error: Option<Cow<'static, str>>,
    }

    thread_local! {
        static BUF: RefCell<Vec<Pending>> = const { RefCell::new(Vec::new()) };
        /// Whether `BUF` is non-empty, readable without a borrow.
        static ANY: Cell<bool> = const { Cell::new(false) };
    }

    /// The span id current on this thread if that span is sampled (events go nowhere otherwise).
    #[inline]
    pub(crate) fn current_recording() -> Option<SpanId> {
        super::super::with_current(|c| (c.is_valid() && c.is_sampled()).then_some(c.span_id))
    }

    /// Leaves `event` for span `span_id`; `error` is the status message if it is an error event.
    pub(crate) fn push(span_id: SpanId, event: Event, error: Option<Cow<'static, str>>) {
        let _ = BUF.try_with(|b| {
            let Ok(mut b) = b.try_borrow_mut() else { return };
            if b.len() >= CAP {
                // The oldest are the likeliest to belong to a context no span will take back.
                b.remove(0);
            }
            b.push(Pending { span_id, event, error });
            let _ = ANY.try_with(|a| a.set(true));
        });
    }

    #[inline]
    pub(super) fn take_into(span: &mut Span) {
        if ANY.try_with(Cell::get).unwrap_or(false) {
            take_slow(span);
        }
    }

    #[cold]
    fn take_slow(span: &mut Span) {
        let id = span.context().span_id;
        let mine: Vec<Pending> = BUF
            .try_with(|b| {
                let Ok(mut b) = b.try_borrow_mut() else { return Vec::new() };
                let mine = b.extract_if(.., |p| p.span_id == id).collect();
                let _ = ANY.try_with(|a| a.set(!b.is_empty()));
                mine
            })
            .unwrap_or_default();
        for p in mine {
            attach(span, p.event, p.error);
        }
    }

    /// An event named `name` happening now.
    pub(crate) fn event(name: Key, attributes: Vec<(Key, Value)>) -> Event {
        Event { name, time_unix_nano: clock::now_unix_nanos(), attributes }
    }

    /// Adds `event` to `span`; `error` (the status message of an error event) sets the status to
    /// error unless the span already has a status.
    pub(crate) fn attach(span: &mut Span, event: Event, error: Option<Cow<'static, str>>) {
        if !span.is_recording() {
            return;
        }
        if let Some(message) = error
            && span.status_code() == StatusCode::Unset
        {
            // Truncated to the span's limit like any status message.
            span.set_status(StatusCode::Error, Some(message));
        }
        span.push_event(event);
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        fn event(name: &'static str) -> Event {
            Event { name: Cow::Borrowed(name), time_unix_nano: 1, attributes: vec![("k".into(), Value::U64(1))] }
        }

        #[test]
        fn a_span_takes_only_its_own_events_and_the_first_error_sets_status() {
            let _pipeline = crate::propagation::tests::pipeline();
            let mut a = crate::span("a").start_detached();
            let b = crate::span("b").start_detached();
            push(a.context().span_id, event("one"), None);
            push(b.context().span_id, event("other"), None);
            push(a.context().span_id, event("two"), Some("boom".into()));
            push(a.context().span_id, event("three"), Some("later".into()));
            take_into(&mut a);
            assert_eq!(BUF.with(|b| b.borrow().len()), 1, "b's event still waits");
            BUF.with(|b| b.borrow_mut().clear());
            ANY.with(|a| a.set(false));
            let id = a.context().span_id;
            drop((a, b));
            let d = crate::collected().into_iter().find(|s| s.span_id == id).unwrap();
            let names: Vec<_> = d.events.iter().map(|e| e.name.as_ref()).collect();
            assert_eq!(names, ["one", "two", "three"]);
            assert_eq!(d.status.code, StatusCode::Error);
            assert_eq!(d.status.message.as_deref(), Some("boom"));
        }

        #[test]
        fn the_buffer_is_bounded() {
            for _ in 0..CAP + 10 {
                push(SpanId(7), event("e"), None);
            }
            assert_eq!(BUF.with(|b| b.borrow().len()), CAP);
            BUF.with(|b| b.borrow_mut().clear());
            ANY.with(|a| a.set(false));
        }
    }
}
