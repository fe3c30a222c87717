//! Examples of tracewell live in `examples/examples/`.
