//! The library of `tracewell-ui-tests` (every supported shape under
//! `#![deny(warnings, clippy::pedantic)]`) compiled again as an edition 2021 crate, so `cargo
//! clippy` proves the generated code clean under both editions' rules.

#[path = "../../src/lib.rs"]
pub mod shapes;
