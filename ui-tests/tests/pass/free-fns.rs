#![deny(warnings, clippy::pedantic)]
//! Free functions with every option.

use tracewell::{monitor, traced};

#[traced]
fn add(a: u64, b: u64) -> u64 {
    a + b
}

#[traced]
fn unit(a: u64) {
    let _ = a;
}

#[traced(
    name = "checkout",
    kind = "server",
    label = "io",
    branch = "main",
    skip(secret),
    skip_output,
    max_len = 64,
    tags(region = "eu", user = user_id),
    attributes(count = 3u64, "http.method" = "POST"),
    sample = 0.5
)]
fn options(user_id: u64, secret: &str) -> usize {
    secret.len()
}

#[traced(skip_all, parent = tracewell::SpanContext::NONE)]
fn with_parent(a: u32) -> u32 {
    a
}

#[monitor(branch = "cache-hit")]
fn monitored(key: &str) -> Option<usize> {
    Some(key.len())
}

#[traced(crate = ::tracewell)]
fn renamed_crate(x: i8) -> i8 {
    x
}

fn main() {
    let _ = add(1, 2);
    unit(1);
    let _ = options(1, "s");
    let _ = with_parent(1);
    let _ = monitored("k");
    let _ = renamed_crate(1);
}
