//! A server built to misbehave in every way a target can, one way per path prefix
//! (`/slow/…`, `/giant/…`, …); each prefix answers health and readiness normally.
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use std::time::Duration;

pub async fn hostile_server() -> std::net::SocketAddr {
    async fn alive() -> &'static str {
        "{\"status\":\"alive\"}"
    }
    fn text(body: impl Into<String>) -> Response {
        (
            [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
            body.into(),
        )
            .into_response()
    }
    let slow_body = || async {
        // Trickles one byte a second: only the probe deadline ends it.
        let stream = async_stream_of_bytes();
        (
            [(header::CONTENT_TYPE, "text/plain")],
            axum::body::Body::from_stream(stream),
        )
            .into_response()
    };
    let never_answering_sse = || async {
        let stream = tokio_stream::StreamExt::map(
            tokio_stream::wrappers::IntervalStream::new(tokio::time::interval(
                Duration::from_millis(200),
            )),
            |_| {
                Ok::<_, std::convert::Infallible>(axum::body::Bytes::from_static(
                    b": keep-alive\n\n",
                ))
            },
        );
        (
            [(header::CONTENT_TYPE, "text/event-stream")],
            axum::body::Body::from_stream(stream),
        )
            .into_response()
    };
    // A legacy HTTP+SSE server whose endpoint event sends the probe to another host.
    let endpoint_elsewhere = || async {
        (
            [(header::CONTENT_TYPE, "text/event-stream")],
            "event: endpoint\ndata: http://203.0.113.7/messages?session=1\n\n",
        )
            .into_response()
    };
    let rpc_error = || async {
        axum::Json(
            serde_json::json!({"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"backend exploded"}}),
        )
    };
    // 100 MB, streamed: only the collector's body cap keeps it out of memory.
    let giant_body = || async {
        static CHUNK: [u8; 64 * 1024] = [b'#'; 64 * 1024];
        let chunks = std::iter::repeat_n(
            Ok::<_, std::convert::Infallible>(axum::body::Bytes::from_static(&CHUNK)),
            1600,
        );
        (
            [(header::CONTENT_TYPE, "text/plain")],
            axum::body::Body::from_stream(tokio_stream::iter(chunks)),
        )
            .into_response()
    };
    // Half a body, then the connection is cut.
    let reset_body = || async {
        let parts: Vec<Result<axum::body::Bytes, std::io::Error>> = vec![
            Ok(axum::body::Bytes::from_static(
                b"mcp_requests_total 1\nmcp_err",
            )),
            Err(std::io::Error::new(
                std::io::ErrorKind::ConnectionReset,
                "reset by the test",
            )),
        ];
        (
            [(header::CONTENT_TYPE, "text/plain")],
            axum::body::Body::from_stream(tokio_stream::iter(parts)),
        )
            .into_response()
    };
    let mut app = Router::new();
    for prefix in [
        "giant",
        "reset",
        "labels",
        "garbage",
        "huge",
        "slow",
        "html",
        "loop",
        "backwards",
        "noinf",
        "rpcerr",
        "sse",
        "status500",
        "badutf8",
        "mcp406",
        "legacy-elsewhere",
        "legacy-silent",
    ] {
        app = app
            .route(&format!("/{prefix}/health/live"), get(alive))
            .route(
                &format!("/{prefix}/health/ready"),
                get(|| async { "{\"status\":\"ready\",\"checks\":{}}" }),
            );
    }
    let app = app
        .route(
            "/garbage/metrics",
            get(|| async { text("mcp_requests_total 1\nthis is { not prometheus\n") }),
        )
        .route("/giant/metrics", get(giant_body))
        .route("/reset/metrics", get(reset_body))
        .route(
            "/labels/metrics",
            get(|| async {
                // 20,000 series, each with a long label set.
                let mut body = String::with_capacity(4 << 20);
                for i in 0..20_000 {
                    body.push_str(&format!(
                        "mcp_requests_total{{a=\"{i}\",b=\"{}\",c=\"x\"}} 1\n",
                        "y".repeat(100)
                    ));
                }
                text(body)
            }),
        )
        .route(
            "/huge/metrics",
            get(|| async { text("x".repeat(64 * 1024)) }),
        )
        .route("/slow/metrics", get(slow_body))
        .route(
            "/html/metrics",
            get(|| async {
                ([(header::CONTENT_TYPE, "text/html")], "<html></html>").into_response()
            }),
        )
        .route(
            "/loop/metrics",
            get(|| async {
                (StatusCode::FOUND, [(header::LOCATION, "/loop/metrics")]).into_response()
            }),
        )
        .route(
            "/noinf/metrics",
            get(|| async { text("mcp_request_duration_seconds_bucket{le=\"0.1\"} 4\n") }),
        )
        .route(
            "/status500/metrics",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route(
            "/badutf8/metrics",
            get(|| async {
                (
                    [(header::CONTENT_TYPE, "text/plain")],
                    b"ok 1\n\xff\xfe 2\n".to_vec(),
                )
                    .into_response()
            }),
        )
        .route("/rpcerr/mcp", post(rpc_error))
        .route("/sse/mcp", post(never_answering_sse))
        .route("/mcp406/mcp", post(|| async { StatusCode::NOT_ACCEPTABLE }))
        // Both refuse the Streamable HTTP POST (405), so the probe tries the legacy GET.
        .route("/legacy-elsewhere/mcp", get(endpoint_elsewhere))
        .route("/legacy-silent/mcp", get(never_answering_sse));
    super::serve_on_loopback(app).await
}

fn async_stream_of_bytes()
-> impl tokio_stream::Stream<Item = Result<axum::body::Bytes, std::convert::Infallible>> {
    tokio_stream::StreamExt::map(
        tokio_stream::wrappers::IntervalStream::new(tokio::time::interval(Duration::from_secs(1))),
        |_| Ok(axum::body::Bytes::from_static(b"a")),
    )
}
