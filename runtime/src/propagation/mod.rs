//! Carrying trace context across services in headers (W3C trace context, B3, plain headers).
