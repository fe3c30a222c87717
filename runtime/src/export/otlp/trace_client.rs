//! The `TraceService/Export` call of `opentelemetry-proto`'s generated `TraceServiceClient`, for
//! an `ExportTraceServiceRequest` that is already encoded.
//!
//! The generated client takes the request by value and encodes it itself, so every batch would
//! build a new request, drop it after sending, and build it again for each retry. This client
//! takes the bytes of [`super::wire::RequestEncoder::encode`] instead: the request is encoded
//! once per batch straight from the spans, and a retry resends the same bytes.
//! The answer is decoded as the crate's `ExportTraceServiceResponse`.

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceResponse;
use prost::bytes::{BufMut, Bytes};
use tonic::client::Grpc;
use tonic::codec::{Codec, CompressionEncoding, DecodeBuf, Decoder, EncodeBuf, Encoder};
use tonic::codegen::http::uri::PathAndQuery;
use tonic::transport::Channel;
use tonic::{GrpcMethod, Request, Response, Status};

/// The service and method, as in `opentelemetry.proto.collector.trace.v1`'s `trace_service.proto`.
const SERVICE: &str = "opentelemetry.proto.collector.trace.v1.TraceService";
const EXPORT_PATH: &str = "/opentelemetry.proto.collector.trace.v1.TraceService/Export";

/// A `TraceService` client whose `export` sends an encoded `ExportTraceServiceRequest`.
#[derive(Debug, Clone)]
pub(crate) struct TraceClient {
    inner: Grpc<Channel>,
}

impl TraceClient {
    pub(crate) fn new(channel: Channel) -> TraceClient {
        TraceClient { inner: Grpc::new(channel) }
    }

    /// See `TraceServiceClient::max_decoding_message_size`.
    pub(crate) fn max_decoding_message_size(mut self, limit: usize) -> TraceClient {
        self.inner = self.inner.max_decoding_message_size(limit);
        self
    }

    /// See `TraceServiceClient::send_compressed`.
    pub(crate) fn send_compressed(mut self, encoding: CompressionEncoding) -> TraceClient {
        self.inner = self.inner.send_compressed(encoding);
        self
    }

    /// See `TraceServiceClient::accept_compressed`.
    pub(crate) fn accept_compressed(mut self, encoding: CompressionEncoding) -> TraceClient {
        self.inner = self.inner.accept_compressed(encoding);
        self
    }

    /// `TraceServiceClient::export` with the request's protobuf bytes; errors as it gives them.
    pub(crate) async fn export(
        &mut self,
        mut request: Request<Bytes>,
    ) -> Result<Response<ExportTraceServiceResponse>, Status> {
        self.inner.ready().await.map_err(|e| Status::unknown(format!("Service was not ready: {e}")))?;
        request.extensions_mut().insert(GrpcMethod::new(SERVICE, "Export"));
        self.inner.unary(request, PathAndQuery::from_static(EXPORT_PATH), EncodedCodec).await
    }
}

/// Writes bytes as they are; decodes the answer with prost, as `tonic_prost::ProstCodec` does.
#[derive(Debug, Clone, Copy, Default)]
struct EncodedCodec;

impl Codec for EncodedCodec {
    type Encode = Bytes;
    type Decode = ExportTraceServiceResponse;
    type Encoder = EncodedCodec;
    type Decoder = EncodedCodec;

    fn encoder(&mut self) -> Self::Encoder {
        EncodedCodec
    }

    fn decoder(&mut self) -> Self::Decoder {
        EncodedCodec
    }
}

impl Encoder for EncodedCodec {
    type Item = Bytes;
    type Error = Status;

    fn encode(&mut self, item: Bytes, dst: &mut EncodeBuf<'_>) -> Result<(), Status> {
        dst.put(item);
        Ok(())
    }
}

impl Decoder for EncodedCodec {
    type Item = ExportTraceServiceResponse;
    type Error = Status;

    fn decode(&mut self, src: &mut DecodeBuf<'_>) -> Result<Option<ExportTraceServiceResponse>, Status> {
        prost::Message::decode(src).map(Some).map_err(|e| Status::internal(e.to_string()))
    }
}
