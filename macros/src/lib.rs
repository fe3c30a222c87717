//! Attribute macros of tracewell.
