//! The listener: HTTP or HTTPS (rustls) on one port, with explicit limits on what a client
//! may send before a handler runs: the size and number of request headers, and the time to
//! send them (slow-loris). Bodies are read only by the handlers that want one (Firehose).

use std::time::Duration;

use axum::Router;
use axum_server::tls_rustls::RustlsConfig;
use hyper_util::rt::TokioExecutor;
use hyper_util::server::conn::auto::Builder;
use tokio_util::sync::CancellationToken;

/// What a request head may be before the server refuses it.
#[derive(Debug, Clone, PartialEq)]
pub struct Limits {
    /// HTTP/1.1: the request line and headers (431 past it). HTTP/2: the header list.
    pub max_header_bytes: usize,
    /// HTTP/1.1 header fields per request (431 past it).
    pub max_headers: usize,
    /// Time to receive a complete request head: the first one of a connection (any protocol,
    /// counted after the TLS handshake, which has its own 10 s limit) and, in HTTP/1.1, each
    /// next one counted from the previous response, so it also closes idle keep-alive
    /// connections.
    pub header_read_timeout: Duration,
}

/// hyper's smallest read buffer: a smaller header cap cannot be enforced.
pub const MIN_HEADER_BYTES: usize = 8192;

fn configure(b: &mut Builder<TokioExecutor>, l: &Limits) {
    b.http1()
        .max_buf_size(l.max_header_bytes.max(MIN_HEADER_BYTES))
        .max_headers(l.max_headers)
        .header_read_timeout(l.header_read_timeout);
    b.http2()
        .max_header_list_size(u32::try_from(l.max_header_bytes).unwrap_or(u32::MAX));
}

/// Serves `app` until `stop`, then lets requests in flight finish for up to `grace`.
pub async fn serve(
    listener: std::net::TcpListener,
    app: Router,
    tls: Option<RustlsConfig>,
    limits: Limits,
    stop: CancellationToken,
    grace: Duration,
) -> std::io::Result<()> {
    let handle = axum_server::Handle::new();
    let shutdown = handle.clone();
    tokio::spawn(async move {
        stop.cancelled().await;
        shutdown.graceful_shutdown(Some(grace));
    });
    let service = app.into_make_service();
    match tls {
        None => {
            let mut server = axum_server::from_tcp(listener)?
                .handle(handle)
                .first_request_timeout(limits.header_read_timeout);
            configure(server.http_builder(), &limits);
            server.serve(service).await
        }
        Some(tls) => {
            let mut server = axum_server::from_tcp_rustls(listener, tls)?
                .handle(handle)
                .first_request_timeout(limits.header_read_timeout);
            configure(server.http_builder(), &limits);
            server.serve(service).await
        }
    }
}
