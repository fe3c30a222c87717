//! Panic messages for spans: a panic hook, chained to the user's, that leaves the message in a
//! thread-local so spans ending during the unwind can record it. No `catch_unwind` anywhere.

use std::borrow::Cow;
use std::cell::RefCell;
use std::sync::Once;

use crate::capture::truncate;

thread_local! {
    static LAST: RefCell<Option<String>> = const { RefCell::new(None) };
}

static INSTALL: Once = Once::new();

/// Installs the hook once per process; the previous hook (the user's or the default) still runs.
pub(crate) fn install_hook() {
    INSTALL.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let payload = info.payload();
            let msg = if let Some(s) = payload.downcast_ref::<&str>() {
                (*s).to_owned()
            } else if let Some(s) = payload.downcast_ref::<String>() {
                s.clone()
            } else {
                "panicked with a non-string payload".to_owned()
            };
            let _ = LAST.try_with(|l| {
                if let Ok(mut l) = l.try_borrow_mut() {
                    *l = Some(msg);
                }
            });
            // A panicking exporter is caught, counted and logged (rate-limited) by the worker;
            // the default hook's report would only repeat that on every batch.
            if std::thread::current().name() != Some("tracewell-worker") {
                previous(info);
            }
        }));
    });
}

/// The message of the panic this thread is unwinding from, if the hook saw it.
pub(crate) fn last_message(limit: usize) -> Option<Cow<'static, str>> {
    LAST.try_with(|l| {
        l.try_borrow().ok().and_then(|m| m.as_deref().map(|m| Cow::Owned(truncate(m, limit.max(16)).into_owned())))
    })
    .ok()
    .flatten()
}
