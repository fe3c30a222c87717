//! With the tracking allocator installed, spans carry the bytes their function allocated and the
//! peak of live bytes, for sync functions and for futures (summed over polls).

use std::sync::OnceLock;

use tracewell::alloc::TrackingAllocator;
use tracewell::export::MemoryExporter;
use tracewell::{SpanData, traced};

#[global_allocator]
static GLOBAL: TrackingAllocator = TrackingAllocator::new();

fn mem() -> &'static MemoryExporter {
    static MEM: OnceLock<MemoryExporter> = OnceLock::new();
    static GUARD: OnceLock<tracewell::Guard> = OnceLock::new();
    let mem = MEM.get_or_init(|| MemoryExporter::new(10_000));
    GUARD.get_or_init(|| tracewell::builder().exporter(mem.clone()).install().expect("install"));
    mem
}

fn find(name: &str) -> SpanData {
    assert!(tracewell::flush());
    mem().spans().into_iter().rev().find(|s| s.name == name).unwrap_or_else(|| panic!("no span {name}"))
}

#[traced(skip_all, skip_output)]
fn builds_a_megabyte() -> usize {
    let v = vec![7u8; 1 << 20];
    let n = v.iter().map(|&b| b as usize).sum::<usize>();
    drop(v);
    let small = vec![1u8; 1000];
    n + small.len()
}

#[traced(skip_all, skip_output)]
fn allocates_nothing(a: u64) -> u64 {
    a * 2
}

#[traced(skip_all, skip_output)]
async fn allocates_across_polls() -> usize {
    let a = vec![0u8; 100_000];
    tokio::task::yield_now().await;
    let b = vec![0u8; 200_000];
    a.len() + b.len()
}

#[test]
fn sync_spans_record_bytes_and_peak() {
    mem();
    builds_a_megabyte();
    let s = find("builds_a_megabyte");
    let bytes = s.alloc_bytes.expect("measured");
    assert!(bytes >= (1 << 20) + 1000, "{bytes}");
    assert!(bytes < (1 << 20) + 64 * 1024, "only what the function allocated: {bytes}");
    let peak = s.alloc_peak.expect("measured");
    assert!(((1 << 20)..(1 << 20) + 64 * 1024).contains(&peak), "{peak}");

    allocates_nothing(21);
    let s = find("allocates_nothing");
    assert!(s.alloc_bytes.expect("measured") < 1024, "{:?}", s.alloc_bytes);
}

#[test]
fn futures_sum_their_polls() {
    mem();
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).build().unwrap();
    rt.block_on(async { tokio::spawn(allocates_across_polls()).await.unwrap() });
    let s = find("allocates_across_polls");
    assert!(s.polls >= 2);
    let bytes = s.alloc_bytes.expect("measured");
    assert!(bytes >= 300_000, "{bytes}");
    let peak = s.alloc_peak.expect("measured");
    assert!(peak >= 200_000, "{peak}");
}
