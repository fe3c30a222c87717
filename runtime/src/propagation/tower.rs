//! A `tower` layer that traces HTTP and gRPC requests across services (feature `tower`).
//!
//! - [`TraceLayer::server`] extracts the caller's context from the request headers and runs the
//!   inner service's future in a server-kind span, so everything the handler does nests under it;
//! - [`TraceLayer::client`] starts a client-kind span under the current span, injects its context
//!   into the request headers and ends the span when the response arrives.
//!
//! Spans are named `METHOD /path` for HTTP and `package.Service/Method` for gRPC (a request whose
//! `content-type` starts with `application/grpc`). They carry `http.request.method`, `url.path`,
//! `http.response.status_code` and, for gRPC, `rpc.system` and `rpc.grpc.status_code` when the
//! status arrives in the response headers. A server response of 5xx, a client response of 4xx or
//! 5xx, a non-zero gRPC status and an inner service error mark the span as failed.
//!
//! Works with any `tower::Service<http::Request<B>, Response = http::Response<R>>`: an axum
//! `Router` (`router.layer(TraceLayer::server())`), a tonic server
//! (`Server::builder().layer(TraceLayer::server())`), a tonic `Channel` or a hyper client
//! (`ServiceBuilder::new().layer(TraceLayer::client()).service(channel)`).
//!
//! # Examples
//!
//! ```
//! use std::convert::Infallible;
//! use tower_service::Service;
//! use tracewell::propagation::tower::TraceLayer;
//! use tower_layer::Layer;
//!
//! let _g = tracewell::builder().install().unwrap();
//! let handler = tower_service_fn(|req: http::Request<()>| async move {
//!     Ok::<_, Infallible>(http::Response::new(tracewell::current().trace_id.to_string()))
//! });
//! let mut server = TraceLayer::server().layer(handler);
//! let req = http::Request::get("/users/7")
//!     .header("traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01")
//!     .body(())
//!     .unwrap();
//! let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
//! let resp = rt.block_on(server.call(req)).unwrap();
//! assert_eq!(resp.body(), "4bf92f3577b34da6a3ce929d0e0e4736");
//! let span = tracewell::collected().into_iter().find(|s| s.name == "GET /users/7").unwrap();
//! assert_eq!(span.parent_span_id.to_string(), "00f067aa0ba902b7");
//!
//! # fn tower_service_fn<F>(f: F) -> ServiceFn<F> { ServiceFn(f) }
//! # #[derive(Clone)] struct ServiceFn<F>(F);
//! # impl<F: FnMut(R) -> Fut, R, Fut: std::future::Future<Output = Result<T, E>>, T, E> Service<R> for ServiceFn<F> {
//! #     type Response = T; type Error = E; type Future = Fut;
//! #     fn poll_ready(&mut self, _: &mut std::task::Context<'_>) -> std::task::Poll<Result<(), E>> { std::task::Poll::Ready(Ok(())) }
//! #     fn call(&mut self, r: R) -> Fut { (self.0)(r) }
//! # }
//! ```

use std::borrow::Cow;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_layer::Layer;
use tower_service::Service;

use super::{Propagators, propagators};
use crate::context::{Instrumented, OutputHook, Span};
use crate::span::{SpanKind, StatusCode};

/// Longest request path put into a span name; longer paths are cut on a character boundary.
const MAX_PATH: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Side {
    Server,
    Client,
}

/// Traces the requests of the service it wraps; see the [module documentation](self).
#[derive(Clone, Debug)]
pub struct TraceLayer {
    side: Side,
    propagators: Option<Arc<Propagators>>,
}

impl TraceLayer {
    /// For a service that answers requests: extract, then a server span around the handler.
    pub fn server() -> TraceLayer {
        TraceLayer { side: Side::Server, propagators: None }
    }

    /// For a service that sends requests: a client span, injected into the request headers.
    pub fn client() -> TraceLayer {
        TraceLayer { side: Side::Client, propagators: None }
    }

    /// Uses these formats instead of the process-wide ones ([`super::propagators`]).
    ///
    /// # Examples
    ///
    /// ```
    /// use tracewell::propagation::{Propagator, Propagators, tower::TraceLayer};
    /// let layer = TraceLayer::client().propagators(Propagators::new([Propagator::B3Multi]));
    /// # let _ = layer;
    /// ```
    pub fn propagators(mut self, propagators: Propagators) -> TraceLayer {
        self.propagators = Some(Arc::new(propagators));
        self
    }
}

impl<S> Layer<S> for TraceLayer {
    type Service = TraceService<S>;

    fn layer(&self, inner: S) -> TraceService<S> {
        TraceService { inner, side: self.side, propagators: self.propagators.clone() }
    }
}

/// The service [`TraceLayer`] makes.
#[derive(Clone, Debug)]
pub struct TraceService<S> {
    inner: S,
    side: Side,
    propagators: Option<Arc<Propagators>>,
}

impl<S, B, R> Service<Request<B>> for TraceService<S>
where
    S: Service<Request<B>, Response = Response<R>>,
{
    type Response = Response<R>;
    type Error = S::Error;
    type Future = Instrumented<S::Future, RecordResponse>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request<B>) -> Self::Future {
        let props = self.propagators.clone().unwrap_or_else(propagators);
        let grpc = is_grpc(req.headers());
        let path = cut(req.uri().path()).to_owned();
        let name: Cow<'static, str> = if grpc {
            path.trim_start_matches('/').to_owned().into()
        } else {
            format!("{} {path}", req.method()).into()
        };
        let builder = crate::span(name);
        let mut span = match self.side {
            Side::Server => builder.kind(SpanKind::Server).parent(props.extract(req.headers())).start_detached(),
            Side::Client => {
                let span = builder.kind(SpanKind::Client).start_detached();
                props.inject_context(span.context(), req.headers_mut());
                span
            }
        };
        if span.is_recording() {
            span.set_attribute("http.request.method", req.method().as_str().to_owned());
            span.set_attribute("url.path", path);
            if grpc {
                span.set_attribute("rpc.system", "grpc");
            }
        }
        Instrumented::new(self.inner.call(req), span, RecordResponse { side: self.side })
    }
}

/// Records the response status on the span (used by [`TraceService`]'s future).
#[derive(Debug)]
pub struct RecordResponse {
    side: Side,
}

impl<R, E> OutputHook<Result<Response<R>, E>> for RecordResponse {
    fn on_output(self, span: &mut Span, output: &Result<Response<R>, E>) {
        if !span.is_recording() {
            return;
        }
        match output {
            Ok(resp) => {
                let status = resp.status().as_u16();
                span.set_attribute("http.response.status_code", status as u64);
                let limit = if self.side == Side::Server { 500 } else { 400 };
                if status >= limit {
                    span.set_status(StatusCode::Error, Some(format!("HTTP status {status}").into()));
                }
                let grpc = resp.headers().get("grpc-status").and_then(|v| v.to_str().ok()?.parse::<u32>().ok());
                if let Some(code) = grpc {
                    span.set_attribute("rpc.grpc.status_code", code as u64);
                    if code != 0 {
                        span.set_status(StatusCode::Error, Some(format!("gRPC status {code}").into()));
                    }
                }
            }
            Err(_) => {
                let what = std::any::type_name::<E>();
                span.set_error(format!("the request failed with an error of type {what}"));
            }
        }
    }
}

fn is_grpc(headers: &http::HeaderMap) -> bool {
    headers.get(http::header::CONTENT_TYPE).is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"))
}

fn cut(path: &str) -> &str {
    if path.len() <= MAX_PATH {
        return path;
    }
    let mut end = MAX_PATH;
    while !path.is_char_boundary(end) {
        end -= 1;
    }
    &path[..end]
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::future::{Ready, ready};

    use super::*;
    use crate::propagation::Propagator;
    use crate::span::SpanData;

    /// Answers with the given status and echoes the request headers in the response headers.
    #[derive(Clone)]
    struct Echo(u16);

    impl Service<Request<()>> for Echo {
        type Response = Response<()>;
        type Error = Infallible;
        type Future = Ready<Result<Response<()>, Infallible>>;
        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }
        fn call(&mut self, req: Request<()>) -> Self::Future {
            let mut resp = Response::new(());
            *resp.status_mut() = http::StatusCode::from_u16(self.0).unwrap();
            *resp.headers_mut() = req.headers().clone();
            ready(Ok(resp))
        }
    }

    fn run<S: Service<Request<()>, Response = Response<()>>>(svc: &mut S, req: Request<()>) -> Response<()>
    where
        S::Error: std::fmt::Debug,
    {
        let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
        rt.block_on(svc.call(req)).unwrap()
    }

    fn last(name: &str) -> SpanData {
        crate::collected().into_iter().rev().find(|s| s.name == name).unwrap()
    }

    #[test]
    fn server_errors_and_invalid_headers() {
        let (_lock, _g) = crate::propagation::tests::pipeline();
        let mut svc = TraceLayer::server().propagators(Propagators::new([Propagator::TraceContext])).layer(Echo(503));
        // an invalid traceparent (uppercase) is ignored: the trace restarts
        let req = Request::post("/jobs")
            .header("traceparent", "00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01")
            .body(())
            .unwrap();
        run(&mut svc, req);
        let s = last("POST /jobs");
        assert_eq!(s.kind, SpanKind::Server);
        assert!(s.is_root() && !s.parent_is_remote);
        assert_ne!(s.trace_id.to_string(), "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(s.status.code, StatusCode::Error);
        assert_eq!(s.attribute("http.response.status_code"), Some(&crate::Value::from(503u64)));
    }

    #[test]
    fn client_injects_its_own_span_and_records_grpc_status() {
        let (_lock, _g) = crate::propagation::tests::pipeline();
        let mut svc = TraceLayer::client().propagators(Propagators::new([Propagator::B3Multi])).layer(Echo(200));
        let req = Request::post("/pkg.Svc/Do")
            .header("content-type", "application/grpc")
            .header("grpc-status", "5")
            .body(())
            .unwrap();
        let outer = crate::span("outer").start();
        let resp = run(&mut svc, req);
        let outer_id = outer.context().span_id;
        drop(outer);
        let s = last("pkg.Svc/Do");
        assert_eq!(s.kind, SpanKind::Client);
        assert_eq!(s.parent_span_id, outer_id);
        assert_eq!(resp.headers()["x-b3-spanid"], s.span_id.to_string());
        assert_eq!(resp.headers()["x-b3-traceid"], s.trace_id.to_string());
        assert_eq!(s.attribute("rpc.grpc.status_code"), Some(&crate::Value::from(5u64)));
        assert_eq!(s.status.code, StatusCode::Error);
    }

    #[test]
    fn long_paths_are_cut_on_a_char_boundary() {
        let p = "é".repeat(200);
        let c = cut(&p);
        assert!(c.len() <= MAX_PATH && c.chars().all(|ch| ch == 'é'));
    }
}
