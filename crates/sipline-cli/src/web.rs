//! The browser phone page of `sipline serve --web`: a small static HTTP/1.1 server (RFC 9112,
//! on hyper) for the page in `crates/sipline-cli/web/`, embedded in the binary, plus
//! `/config.json`, which tells the page the WebSocket URL of the SIP server (RFC 7118) and its
//! domain, so that it works with no typing.
//!
//! Routes (GET and HEAD only, RFC 9110 §9.3.1/§9.3.2; other methods get 405 with `Allow`):
//!
//! | path                        | what                                   |
//! |-----------------------------|----------------------------------------|
//! | `/`, `/index.html`          | the page (`web/index.html`)            |
//! | `/phone.css`                | its style sheet                        |
//! | `/dist/phone.js`            | SIP.js 0.21 and the page's script, bundled by esbuild |
//! | `/config.json`              | `{"wsUrl": ..., "domain": ...}` ([`WebConfig`]) |
//!
//! Anything else is 404. Limits: request heads up to [`MAX_HEAD_BYTES`] (hyper answers 431
//! beyond, 400 to what is not HTTP, and closes), [`MAX_HEADERS`] header fields,
//! [`MAX_CONNECTIONS`] connections at once (more are closed at once), a head must arrive
//! within [`HEAD_TIMEOUT`] and a connection lives at most [`CONNECTION_LIFETIME`].
//!
//! For the integrator of `sipline serve --web`: `web::start(addr, WebConfig { ws_url,
//! domain }).await?` and keep the [`WebServer`] (dropping it stops the server). Until then,
//! the hidden subcommand `sipline web` ([`WebArgs`], [`run`]) runs it alone (used by the
//! tests).

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use clap::Args;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::header::{self, HeaderValue};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::net::TcpListener;
use tokio::sync::{Semaphore, oneshot};
use tokio::task::JoinHandle;

/// The page.
const INDEX_HTML: &str = include_str!("../web/index.html");
/// Its style sheet.
const PHONE_CSS: &str = include_str!("../web/phone.css");
/// SIP.js and `web/phone.js`, bundled (committed; `web/check-bundle.mjs` proves it matches).
const PHONE_JS: &str = include_str!("../web/dist/phone.js");

/// The largest request head accepted (hyper's read buffer; it answers 431 beyond).
pub(crate) const MAX_HEAD_BYTES: usize = 16 * 1024;
/// The most header fields in one request.
pub(crate) const MAX_HEADERS: usize = 64;
/// The most connections served at once.
pub(crate) const MAX_CONNECTIONS: usize = 64;
/// How long a client has to send a request head.
pub(crate) const HEAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How long one connection (keep-alive included) lives.
pub(crate) const CONNECTION_LIFETIME: Duration = Duration::from_secs(120);

/// What the page needs to know about the SIP server, served as `/config.json`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WebConfig {
    /// The WebSocket URL of the SIP server (RFC 7118 §3), e.g. `ws://127.0.0.1:8080`.
    pub(crate) ws_url: String,
    /// The SIP domain users register in (the host of their address of record).
    pub(crate) domain: String,
}

impl WebConfig {
    /// The `/config.json` body.
    fn to_json(&self) -> String {
        serde_json::json!({ "wsUrl": self.ws_url, "domain": self.domain }).to_string()
    }
}

/// Why the web server did not start.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Error {
    /// The listening socket could not be bound.
    #[error("cannot listen for HTTP on {addr}: {source}")]
    Bind {
        /// Where.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// The bound socket has no local address.
    #[error("the HTTP listener has no local address: {0}")]
    LocalAddr(std::io::Error),
}

/// A running web server; dropping it (or [`WebServer::shutdown`]) stops accepting and ends
/// the connections it serves.
#[derive(Debug)]
pub(crate) struct WebServer {
    local_addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: JoinHandle<()>,
}

impl WebServer {
    /// Where it listens (the port picked, for port 0).
    pub(crate) fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// Stops it and waits until the listener is closed.
    pub(crate) async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        let _ = (&mut self.task).await;
    }
}

impl Drop for WebServer {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

/// Starts serving the phone page on `addr` (127.0.0.1 unless the caller says otherwise).
pub(crate) async fn start(addr: SocketAddr, cfg: WebConfig) -> Result<WebServer, Error> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| Error::Bind { addr, source })?;
    let local_addr = listener.local_addr().map_err(Error::LocalAddr)?;
    let config = Bytes::from(cfg.to_json());
    let (stop, stopped) = oneshot::channel();
    let task = tokio::spawn(accept_loop(listener, config, stopped));
    Ok(WebServer {
        local_addr,
        stop: Some(stop),
        task,
    })
}

/// Accepts connections until told to stop; each connection's task ends with it (the
/// connection tasks are aborted when the loop ends).
async fn accept_loop(listener: TcpListener, config: Bytes, mut stopped: oneshot::Receiver<()>) {
    let slots = Arc::new(Semaphore::new(MAX_CONNECTIONS));
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let accepted = tokio::select! {
            _ = &mut stopped => break,
            accepted = listener.accept() => accepted,
            // Reap finished connection tasks as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // E.g. out of file descriptors: wait a little instead of spinning.
                tracing::warn!("web: accept failed: {e}");
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };
        let Ok(slot) = Arc::clone(&slots).try_acquire_owned() else {
            // Over the limit: closed unserved.
            continue;
        };
        let config = config.clone();
        connections.spawn(async move {
            let service = service_fn(move |req: Request<Incoming>| {
                let response = respond(req.method(), req.uri().path(), &config);
                async move { Ok::<_, Infallible>(response) }
            });
            let mut builder = http1::Builder::new();
            builder
                .timer(TokioTimer::new())
                .header_read_timeout(HEAD_TIMEOUT)
                .max_buf_size(MAX_HEAD_BYTES)
                .max_headers(MAX_HEADERS);
            let conn = builder.serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIFETIME, conn).await;
            drop(slot);
        });
    }
    connections.shutdown().await;
}

/// The response to `method path` (RFC 9110 §15: 200, 404, 405).
fn respond(method: &Method, path: &str, config: &Bytes) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        let mut r = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
        r.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
        return r;
    }
    let (body, kind, cache) = match path {
        "/" | "/index.html" => (
            Bytes::from_static(INDEX_HTML.as_bytes()),
            "text/html; charset=utf-8",
            "no-cache",
        ),
        "/phone.css" => (
            Bytes::from_static(PHONE_CSS.as_bytes()),
            "text/css; charset=utf-8",
            "no-cache",
        ),
        // ES modules load only with a JavaScript MIME type (HTML Standard, "module script").
        "/dist/phone.js" => (
            Bytes::from_static(PHONE_JS.as_bytes()),
            "text/javascript; charset=utf-8",
            "no-cache",
        ),
        "/config.json" => (config.clone(), "application/json", "no-store"),
        _ => return plain(StatusCode::NOT_FOUND, "not found\n"),
    };
    let mut r = Response::new(Full::new(body));
    let h = r.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    secure(h);
    r
}

/// A short text/plain response.
fn plain(status: StatusCode, text: &'static str) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::from_static(text.as_bytes())));
    *r.status_mut() = status;
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    secure(h);
    r
}

/// Headers that keep the page to its own files: nothing is loaded from elsewhere
/// (Content-Security-Policy), nothing is sniffed, nothing frames it.
fn secure(h: &mut hyper::HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; \
             frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
}

/// `sipline web`: serves the phone page alone (hidden; used by the tests until `sipline
/// serve --web` exists).
#[derive(Debug, Args)]
pub(crate) struct WebArgs {
    /// Where to listen for HTTP.
    #[arg(long, value_name = "HOST:PORT", default_value = "127.0.0.1:8088")]
    listen: SocketAddr,
    /// The SIP server's WebSocket URL the page connects to (ws://HOST:PORT or wss://...).
    #[arg(long, value_name = "URL")]
    ws_url: String,
    /// The SIP domain of the users (their address is sip:USER@DOMAIN).
    #[arg(long, value_name = "DOMAIN")]
    domain: String,
}

/// Runs `sipline web` until Ctrl-C; prints `web page on http://ADDR/` once listening.
pub(crate) async fn run(args: WebArgs) -> ExitCode {
    if !(args.ws_url.starts_with("ws://") || args.ws_url.starts_with("wss://")) {
        eprintln!(
            "sipline: --ws-url {:?}: expected ws://... or wss://...",
            args.ws_url
        );
        return ExitCode::from(2);
    }
    let cfg = WebConfig {
        ws_url: args.ws_url,
        domain: args.domain,
    };
    let server = match start(args.listen, cfg).await {
        Ok(s) => s,
        Err(e) => {
            eprintln!("sipline: {e}");
            return ExitCode::from(2);
        }
    };
    println!("web page on http://{}/", server.local_addr());
    match tokio::signal::ctrl_c().await {
        Ok(()) => {
            server.shutdown().await;
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("sipline: cannot wait for Ctrl-C: {e}");
            ExitCode::from(1)
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    //! Over a real socket on 127.0.0.1: raw HTTP/1.1 requests, raw responses.
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpStream;

    async fn server() -> WebServer {
        let cfg = WebConfig {
            ws_url: "ws://127.0.0.1:8080".into(),
            domain: "sipline.test".into(),
        };
        start("127.0.0.1:0".parse().unwrap(), cfg).await.unwrap()
    }

    /// Sends `request` as is on a new connection; everything read until the server closes
    /// (or 5 s pass).
    async fn exchange(addr: SocketAddr, request: &[u8]) -> String {
        let mut s = TcpStream::connect(addr).await.unwrap();
        s.write_all(request).await.unwrap();
        let mut buf = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(5), s.read_to_end(&mut buf)).await;
        assert!(read.is_ok(), "the server did not close the connection");
        String::from_utf8_lossy(&buf).into_owned()
    }

    async fn get(addr: SocketAddr, method: &str, path: &str) -> (String, String) {
        let req = format!("{method} {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
        let raw = exchange(addr, req.as_bytes()).await;
        let (head, body) = raw
            .split_once("\r\n\r\n")
            .unwrap_or_else(|| panic!("no head in {raw:?}"));
        (head.to_ascii_lowercase(), body.to_owned())
    }

    #[tokio::test]
    async fn serves_the_page_its_files_and_config() {
        let web = server().await;
        let addr = web.local_addr();
        assert!(addr.ip().is_loopback());
        let (head, body) = get(addr, "GET", "/").await;
        assert!(head.starts_with("http/1.1 200 ok"), "{head}");
        assert!(
            head.contains("content-type: text/html; charset=utf-8"),
            "{head}"
        );
        assert!(
            head.contains("content-security-policy: default-src 'self'"),
            "{head}"
        );
        assert_eq!(body, INDEX_HTML);
        assert!(body.contains("dist/phone.js"), "the page loads its bundle");

        let (head, body) = get(addr, "GET", "/dist/phone.js?v=1").await;
        assert!(head.starts_with("http/1.1 200 ok"), "{head}");
        assert!(head.contains("content-type: text/javascript"), "{head}");
        assert_eq!(body.len(), PHONE_JS.len());
        assert!(
            body.len() > 100_000,
            "SIP.js is in the bundle: {}",
            body.len()
        );

        let (head, body) = get(addr, "GET", "/phone.css").await;
        assert!(head.contains("content-type: text/css"), "{head}");
        assert_eq!(body, PHONE_CSS);

        let (head, body) = get(addr, "GET", "/config.json").await;
        assert!(head.contains("content-type: application/json"), "{head}");
        assert!(head.contains("cache-control: no-store"), "{head}");
        let v: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert_eq!(v["wsUrl"], "ws://127.0.0.1:8080");
        assert_eq!(v["domain"], "sipline.test");

        // HEAD: the same head, no body.
        let (head, body) = get(addr, "HEAD", "/index.html").await;
        assert!(head.starts_with("http/1.1 200 ok"), "{head}");
        assert!(
            head.contains(&format!("content-length: {}", INDEX_HTML.len())),
            "{head}"
        );
        assert_eq!(body, "");
        web.shutdown().await;
    }

    #[tokio::test]
    async fn refuses_other_paths_and_methods() {
        let web = server().await;
        let addr = web.local_addr();
        for path in [
            "/nope",
            "/../Cargo.toml",
            "/web/phone.js",
            "/dist/",
            "/favicon.ico",
        ] {
            let (head, _) = get(addr, "GET", path).await;
            assert!(head.starts_with("http/1.1 404 not found"), "{path}: {head}");
        }
        for method in ["POST", "PUT", "DELETE", "OPTIONS"] {
            let (head, _) = get(addr, method, "/").await;
            assert!(
                head.starts_with("http/1.1 405 method not allowed"),
                "{method}: {head}"
            );
            assert!(head.contains("allow: get, head"), "{head}");
        }
        web.shutdown().await;
    }

    #[tokio::test]
    async fn closes_garbage_and_oversized_requests_and_goes_on_serving() {
        let web = server().await;
        let addr = web.local_addr();
        let raw = exchange(addr, b"\x00\x01\xffhello there\r\n\r\n").await;
        assert!(raw.is_empty() || raw.starts_with("HTTP/1.1 400"), "{raw:?}");
        // A head larger than the limit: refused (431) and closed, not buffered.
        let big = format!(
            "GET / HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
            "a".repeat(MAX_HEAD_BYTES * 2)
        );
        let raw = exchange(addr, big.as_bytes()).await;
        assert!(
            raw.is_empty() || raw.starts_with("HTTP/1.1 431") || raw.starts_with("HTTP/1.1 400"),
            "{raw:?}"
        );
        let many: String = (0..MAX_HEADERS * 2)
            .map(|i| format!("X-{i}: y\r\n"))
            .collect();
        let raw = exchange(addr, format!("GET / HTTP/1.1\r\n{many}\r\n").as_bytes()).await;
        assert!(!raw.starts_with("HTTP/1.1 200"), "{raw:?}");
        // Still serving.
        let (head, _) = get(addr, "GET", "/config.json").await;
        assert!(head.starts_with("http/1.1 200 ok"), "{head}");
        web.shutdown().await;
    }

    #[tokio::test]
    async fn closes_connections_over_the_limit_and_recovers() {
        let web = server().await;
        let addr = web.local_addr();
        let mut idle = Vec::new();
        for _ in 0..MAX_CONNECTIONS {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        // Let the server accept them all (each holds a slot until its head arrives).
        tokio::time::sleep(Duration::from_millis(200)).await;
        let mut extra = TcpStream::connect(addr).await.unwrap();
        let mut buf = [0u8; 16];
        let n = tokio::time::timeout(Duration::from_secs(2), extra.read(&mut buf)).await;
        assert!(
            matches!(n, Ok(Ok(0)) | Ok(Err(_))),
            "connection {} was not closed: {n:?}",
            MAX_CONNECTIONS + 1
        );
        drop(idle);
        tokio::time::sleep(Duration::from_millis(200)).await;
        let (head, _) = get(addr, "GET", "/").await;
        assert!(head.starts_with("http/1.1 200 ok"), "{head}");
        web.shutdown().await;
    }

    #[tokio::test]
    async fn stops_listening_when_dropped() {
        let web = server().await;
        let addr = web.local_addr();
        drop(web);
        // The accept loop ends on its next turn.
        let mut refused = false;
        for _ in 0..50 {
            if TcpStream::connect(addr).await.is_err() {
                refused = true;
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(refused, "still accepting on {addr} after the drop");
    }

    #[tokio::test]
    async fn reports_a_port_in_use() {
        let web = server().await;
        let cfg = WebConfig {
            ws_url: "ws://127.0.0.1:1".into(),
            domain: "d".into(),
        };
        let e = start(web.local_addr(), cfg).await.unwrap_err();
        assert!(matches!(e, Error::Bind { .. }), "{e}");
        assert!(e.to_string().contains("cannot listen for HTTP"), "{e}");
    }
}
