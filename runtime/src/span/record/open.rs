//! The record of a span while it is open, built in place: the header is written when the span
//! starts, captured values are encoded onto it as they come, and ending the span fills in the
//! last header words, appends what is left and copies the words out in one piece.

use std::borrow::Cow;
use std::sync::Arc;

use super::encode;
use super::{
    HEADER_WORDS, IMPLICIT_KEYS, REMOTE_PARENT, S_ALLOC_BYTES, S_ALLOC_PEAK, S_FIRST_ITEM, S_INPUTS, S_ITEMS, S_NAMES,
    S_OUTPUT, S_POLLS, TICKS,
};
use crate::alloc::AllocScope;
use crate::clock::Ticks;
use crate::span::{Callsite, Event, Key, Prev, SpanContext, SpanId, SpanKind, StatusCode, TraceId, Value};

// Header words (see the module docs).
const W_TRACE_LO: usize = 1;
const W_TRACE_HI: usize = 2;
const W_SPAN: usize = 3;
const W_PARENT: usize = 4;
const W_START: usize = 5;
const W_END: usize = 6;
const W_SITE: usize = 7;

/// What a recording span carries until it ends. The box it lives in is reused by the thread
/// that ends spans, so starting a span writes into memory already in that core's cache.
#[derive(Debug)]
pub(crate) struct Recording {
    /// The span's context, for children and headers (also for a span that is not sampled).
    pub(crate) ctx: SpanContext,
    /// Whether the span records (otherwise the box only carries its context).
    pub(crate) sampled: bool,
    /// What was current before this span was entered on its thread.
    pub(crate) prev: Option<Prev>,
    /// The record: the header, then the inputs as they are captured. (A `Vec`: the record is
    /// reused, so its capacity is allocated once.)
    words: Vec<u64>,
    /// The output, encoded; empty when there is none.
    output: Vec<u64>,
    /// The function, when the span is a callsite's: its names stay there.
    pub(crate) site: Option<&'static Callsite>,
    site_id: u32,
    pub(crate) kind: SpanKind,
    pub(crate) status: StatusCode,
    trace_flags: u8,
    parent_remote: bool,
    /// Longest captured text.
    pub(crate) limit: usize,
    /// Which of the callsite's inputs are secrets.
    pub(crate) secret_mask: u32,
    /// End as cancelled if dropped before normal completion.
    pub(crate) cancel_on_drop: bool,
    n_inputs: u16,
    keyed: bool,
    pub(crate) polls: u32,
    pub(crate) pending_polls: u32,
    /// Sum of poll durations, ticks.
    pub(crate) busy: Ticks,
    pub(crate) items: Option<u64>,
    /// Ticks from the start to the first item.
    pub(crate) first_item: Option<Ticks>,
    /// Allocation figures of the thread since the start, when a tracking allocator runs.
    pub(crate) alloc: Option<AllocScope>,
    alloc_figures: Option<(u64, u64)>,
    /// What fewer spans have; `extra_used` says whether it holds anything.
    extra: Box<Extra>,
    extra_used: bool,
}

/// The rarer parts of an open span: the names of a span made without a callsite, the status
/// message, attributes, tags, events and tracestate.
#[derive(Debug, Default)]
pub(crate) struct Extra {
    pub(crate) name: Key,
    pub(crate) target: Key,
    pub(crate) label: Option<Key>,
    pub(crate) branch: Option<Key>,
    pub(crate) status_message: Option<Cow<'static, str>>,
    pub(crate) attributes: Vec<(Key, Value)>,
    pub(crate) tags: Vec<(Key, Value)>,
    pub(crate) events: Vec<Event>,
    pub(crate) trace_state: Option<Arc<str>>,
}

impl Recording {
    /// A record with every field at its default.
    pub(crate) fn empty() -> Recording {
        let mut words = Vec::with_capacity(32);
        words.resize(HEADER_WORDS, 0);
        Recording {
            ctx: SpanContext::NONE,
            sampled: false,
            prev: None,
            words,
            output: Vec::with_capacity(4),
            site: None,
            site_id: 0,
            kind: SpanKind::Internal,
            status: StatusCode::Unset,
            trace_flags: 0,
            parent_remote: false,
            limit: 0,
            secret_mask: 0,
            cancel_on_drop: false,
            n_inputs: 0,
            keyed: false,
            polls: 0,
            pending_polls: 0,
            busy: 0,
            items: None,
            first_item: None,
            alloc: None,
            alloc_figures: None,
            extra: Box::default(),
            extra_used: false,
        }
    }

    /// Starts the record of span `span_id` in `trace_id` under `parent` (invalid for a root).
    // Hot path: a handful of stores into memory this thread used for its last span.
    #[inline]
    pub(crate) fn begin(
        &mut self,
        trace_id: TraceId,
        span_id: SpanId,
        parent: SpanId,
        trace_flags: u8,
        parent_remote: bool,
        site: Option<&'static Callsite>,
    ) {
        let w = &mut self.words;
        w[W_TRACE_LO] = trace_id.0 as u64;
        w[W_TRACE_HI] = (trace_id.0 >> 64) as u64;
        w[W_SPAN] = span_id.0;
        w[W_PARENT] = parent.0;
        self.trace_flags = trace_flags;
        self.parent_remote = parent_remote;
        self.site = site;
        self.site_id = site.map_or(0, Callsite::id);
    }

    /// When the span started, ticks (0: not started yet).
    #[inline]
    pub(crate) fn start(&self) -> Ticks {
        self.words[W_START]
    }

    /// Starts the clock at `now`.
    #[inline]
    pub(crate) fn start_at(&mut self, now: Ticks) {
        self.words[W_START] = now;
    }

    /// Back to the defaults for reuse, keeping the capacity of its lists. What every start
    /// writes anyway (ids, site, kind, limits, times) is left as it is.
    #[inline]
    pub(crate) fn reset(&mut self) {
        self.prev = None;
        self.words.truncate(HEADER_WORDS);
        self.output.clear();
        self.status = StatusCode::Unset;
        self.cancel_on_drop = false;
        self.n_inputs = 0;
        self.keyed = false;
        self.polls = 0;
        self.pending_polls = 0;
        self.busy = 0;
        self.items = None;
        self.first_item = None;
        self.alloc = None;
        self.alloc_figures = None;
        if self.extra_used {
            self.extra_used = false;
            let x = &mut *self.extra;
            x.name = Cow::Borrowed("");
            x.target = Cow::Borrowed("");
            x.label = None;
            x.branch = None;
            x.status_message = None;
            x.attributes.clear();
            x.tags.clear();
            x.events.clear();
            x.trace_state = None;
        }
    }

    /// The rarer parts, for writing.
    #[inline]
    pub(crate) fn extra(&mut self) -> &mut Extra {
        self.extra_used = true;
        &mut self.extra
    }

    /// Input number `index` of the callsite.
    // Hot path: a primitive in callsite order is one or two words pushed.
    #[inline(always)]
    pub(crate) fn input(&mut self, index: usize, v: Value) {
        if !self.keyed && index == usize::from(self.n_inputs) && self.site.is_some() {
            encode::value_owned(&mut self.words, v);
            self.n_inputs += 1;
        } else {
            let name = self.site.and_then(|cs| cs.inputs.get(index)).copied().unwrap_or("");
            self.named_input(name, &v);
        }
    }

    /// An input by name.
    pub(crate) fn named_input(&mut self, name: &str, v: &Value) {
        if !self.keyed {
            self.use_keys();
        }
        encode::string(&mut self.words, name);
        encode::value(&mut self.words, v);
        self.n_inputs = self.n_inputs.saturating_add(1);
    }

    /// Rewrites inputs recorded in callsite order as key-value pairs.
    #[cold]
    fn use_keys(&mut self) {
        self.keyed = true;
        if self.n_inputs == 0 {
            return;
        }
        let values = self.words.split_off(HEADER_WORDS);
        let names = self.site.map_or(&[][..], |cs| cs.inputs);
        let mut at = 0;
        for i in 0..usize::from(self.n_inputs) {
            let len = super::decode::value_words(&values[at..]);
            encode::string(&mut self.words, names.get(i).copied().unwrap_or(""));
            self.words.extend_from_slice(&values[at..at + len]);
            at += len;
        }
    }

    /// Sets the output (replacing one set before).
    #[inline]
    pub(crate) fn set_output(&mut self, v: &Value) {
        self.output.clear();
        encode::value(&mut self.output, v);
    }

    /// [`Recording::set_output`] taking the value.
    #[inline(always)]
    pub(crate) fn set_output_owned(&mut self, v: Value) {
        self.output.clear();
        encode::value_owned(&mut self.output, v);
    }

    /// Adds allocation figures (bytes summed, peak the larger).
    pub(crate) fn add_alloc(&mut self, (bytes, peak): (u64, u64)) {
        let (b, p) = self.alloc_figures.unwrap_or((0, 0));
        self.alloc_figures = Some((b + bytes, p.max(peak)));
    }

    /// Completes the record of a span that ended at `end` on thread `thread`: its words, ready
    /// to be copied out. [`Recording::reset`] makes the record reusable afterwards.
    // Hot path: for a plain `#[traced]` call, the output appended and four header words stored.
    #[inline]
    pub(crate) fn finish(&mut self, end: Ticks, thread: u32) -> &[u64] {
        let mut sections = 0u16;
        let mut flags = TICKS;
        if self.parent_remote {
            flags |= REMOTE_PARENT;
        }
        if self.n_inputs > 0 {
            sections |= S_INPUTS;
            if !self.keyed {
                flags |= IMPLICIT_KEYS;
            }
        }
        if !self.output.is_empty() {
            sections |= S_OUTPUT;
            self.words.extend_from_slice(&self.output);
        }
        if self.polls > 0
            || self.pending_polls > 0
            || self.busy > 0
            || self.items.is_some()
            || self.first_item.is_some()
            || self.alloc_figures.is_some()
        {
            sections |= self.fixed_sections();
        }
        let named = self.site.is_none();
        if named || self.extra_used {
            sections |= self.extra_sections(named);
        }
        let len = self.words.len();
        let w = &mut self.words;
        w[0] = encode::length_word(len, sections, self.kind, self.status);
        w[W_END] = end;
        w[W_SITE] = u64::from(self.site_id) | u64::from(thread) << 32;
        w[HEADER_WORDS - 1] = encode::flags_word(flags, self.trace_flags, self.n_inputs);
        &self.words
    }

    /// Appends the polls, items, time to first item and allocation sections that apply, once.
    #[cold]
    fn fixed_sections(&mut self) -> u16 {
        let mut sections = 0;
        if self.polls > 0 || self.pending_polls > 0 || self.busy > 0 {
            sections |= S_POLLS;
            self.words.extend_from_slice(&[u64::from(self.polls) | u64::from(self.pending_polls) << 32, self.busy]);
        }
        let (alloc_bytes, alloc_peak) = self.alloc_figures.unzip();
        for (bit, v) in [
            (S_ITEMS, self.items),
            (S_FIRST_ITEM, self.first_item),
            (S_ALLOC_BYTES, alloc_bytes),
            (S_ALLOC_PEAK, alloc_peak),
        ] {
            if let Some(v) = v {
                sections |= bit;
                self.words.push(v);
            }
        }
        sections
    }

    /// Appends the names (for a span without a callsite) and the rarer sections.
    #[cold]
    fn extra_sections(&mut self, named: bool) -> u16 {
        let x = &self.extra;
        let mut sections = 0;
        if named {
            sections |= S_NAMES;
            encode::names(&mut self.words, &x.name, &x.target, x.label.as_deref(), x.branch.as_deref());
        }
        if self.extra_used {
            sections |= encode::tail(
                &mut self.words,
                x.status_message.as_deref(),
                &x.attributes,
                &x.tags,
                &x.events,
                x.trace_state.as_deref(),
            );
        }
        sections
    }
}
