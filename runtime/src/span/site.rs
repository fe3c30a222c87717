//! Callsites: the static description of an instrumented function, and the registry that gives
//! each one a small number, so a span record names its function with four bytes instead of
//! copying its name, module path and argument names.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use arc_swap::ArcSwap;

use super::SpanKind;

/// The static description of an instrumented function, made once per function by the macros.
///
/// It holds what does not change between calls, and caches which of its inputs are secrets under
/// the installed policy, so the per-call cost of scrubbing is one bit test.
///
/// # Examples
///
/// ```
/// use tracewell::Callsite;
/// static CS: Callsite = Callsite::new("load", module_path!(), &["id"]).with_branch("cache_hit");
/// assert_eq!(CS.name(), "load");
/// assert_eq!(CS.inputs(), ["id"]);
/// ```
#[derive(Debug)]
pub struct Callsite {
    pub(crate) name: &'static str,
    pub(crate) target: &'static str,
    pub(crate) kind: SpanKind,
    pub(crate) label: Option<&'static str>,
    pub(crate) branch: Option<&'static str>,
    pub(crate) max_len: Option<usize>,
    pub(crate) inputs: &'static [&'static str],
    /// `(generation << 32) | secret mask`; generation 0 means "not computed yet".
    pub(crate) secrets: AtomicU64,
    /// The number records name this callsite by; 0 until first used.
    id: AtomicU32,
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
            id: AtomicU32::new(0),
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

    /// This callsite's number in the registry, registering it on first use.
    // Hot path: one relaxed load once registered.
    #[inline]
    pub(crate) fn id(&'static self) -> u32 {
        match self.id.load(Ordering::Acquire) {
            0 => register(self),
            id => id,
        }
    }
}

/// Every callsite that has made a span, by number (`id - 1`); a snapshot is taken per batch.
pub(crate) type Sites = Arc<Vec<&'static Callsite>>;

static SITES: std::sync::LazyLock<ArcSwap<Vec<&'static Callsite>>> =
    std::sync::LazyLock::new(|| ArcSwap::from_pointee(Vec::new()));
static REGISTERING: Mutex<()> = Mutex::new(());

#[cold]
fn register(cs: &'static Callsite) -> u32 {
    // Once per callsite per process: a lock and a copy of the list are fine here.
    let _one_at_a_time = REGISTERING.lock().unwrap_or_else(|e| e.into_inner());
    let id = cs.id.load(Ordering::Acquire);
    if id != 0 {
        return id;
    }
    let mut all = Vec::clone(&SITES.load());
    all.push(cs);
    let id = u32::try_from(all.len()).unwrap_or(u32::MAX);
    SITES.store(Arc::new(all));
    // Published after the list holds it, so a record naming `id` always finds it in a snapshot
    // taken after the record was read.
    cs.id.store(id, Ordering::Release);
    id
}

/// The registry as it is now.
pub(crate) fn sites() -> Sites {
    SITES.load_full()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_stable_and_resolve_to_their_callsite() {
        static A: Callsite = Callsite::new("a", "m", &[]);
        static B: Callsite = Callsite::new("b", "m", &["x"]);
        let (a, b) = (A.id(), B.id());
        assert_ne!(a, b);
        assert_eq!((A.id(), B.id()), (a, b), "registered once");
        let all = sites();
        assert_eq!(all[a as usize - 1].name, "a");
        assert_eq!(all[b as usize - 1].inputs, ["x"]);
    }

    #[test]
    fn threads_registering_together_get_one_id_each() {
        static C: Callsite = Callsite::new("c", "m", &[]);
        let ids: Vec<u32> = std::thread::scope(|s| {
            let hs: Vec<_> = (0..4).map(|_| s.spawn(|| C.id())).collect();
            hs.into_iter().map(|h| h.join().unwrap()).collect()
        });
        assert!(ids.windows(2).all(|w| w[0] == w[1]), "{ids:?}");
        assert_eq!(sites().iter().filter(|cs| std::ptr::eq(**cs, &C)).count(), 1);
    }
}
