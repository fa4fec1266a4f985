//! # sipline-tokio
//!
//! The tokio runtime of sipline: UDP, TCP, TLS, WebSocket and secure WebSocket transports
//! (RFC 3261 §18, RFC 7118) and the driver task that moves bytes and instants between the
//! operating system and a sans-IO [`Core`]: the transaction layer [`sipline_proto::Endpoint`]
//! ([`RuntimeBuilder::start`]) or the user-agent core [`sipline_proto::UaCore`]
//! ([`RuntimeBuilder::start_with`], which builds the core once the sockets are bound, so its
//! Via and Contact carry the real ports). It does nothing clever: the protocol lives in the
//! core; [`Handle::with`] runs a command on it inside the driver task.
//!
//! - One driver task owns the core and one timer reset to the core's next deadline.
//! - Each socket and each connection has its own task; received messages reach the driver
//!   through a channel, and each connection has a bounded write queue: a peer that does not
//!   read is disconnected rather than buffered for.
//! - Connections are reused (§18), closed when idle ([`ConnectionConfig::idle_timeout`]),
//!   optionally kept alive with `CRLF CRLF` pings (RFC 5626 §3.5.1), and limited in number.
//! - TLS verifies certificates: against trust anchors or a pinned certificate
//!   ([`TlsClientConfig`]); nothing accepts any certificate by default.
//! - Every message sent or received is logged with `tracing` at debug level, target
//!   `sipline::wire`.
//!
//! ```
//! use sipline_proto::{Event, Flow, Method, Request, Response, StatusCode, TransportKind, Uri};
//! use sipline_tokio::Runtime;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let any = "127.0.0.1:0".parse()?;
//! let (alice, mut alice_events) = Runtime::builder().udp(any).start().await?;
//! let (bob, mut bob_events) = Runtime::builder().udp(any).start().await?;
//! let bob_addr = bob.local_addr(TransportKind::Udp).ok_or("no UDP")?;
//!
//! // Bob answers every request with 200 OK.
//! let answering = bob.clone();
//! let answer = tokio::spawn(async move {
//!     while let Some(ev) = bob_events.next_event().await {
//!         if let Event::Request { tx, request, .. } = ev {
//!             let tag = answering.new_tag().await?;
//!             let ok = Response::from_request(&request, StatusCode::OK, Some(&tag));
//!             answering.respond(tx, ok).await?;
//!         }
//!     }
//!     Ok::<_, sipline_tokio::Error>(())
//! });
//!
//! // Alice asks Bob for his capabilities (RFC 3261 §11).
//! let me = alice.local_addr(TransportKind::Udp).ok_or("no UDP")?.to_string();
//! let request = Request::builder(Method::Options, Uri::parse(&format!("sip:bob@{bob_addr}"))?)
//!     .via("UDP", &me, &alice.new_branch().await?)
//!     .from(&format!("<sip:alice@{me}>"), &alice.new_tag().await?)
//!     .to(&format!("<sip:bob@{bob_addr}>"), None)
//!     .call_id("doc-example@127.0.0.1")
//!     .cseq(1)
//!     .build()?;
//! let flow = Flow { transport: TransportKind::Udp, remote: bob_addr, conn: None };
//! alice.send_request(request, flow).await?;
//! let Some(Event::Response { response, .. }) = alice_events.next_event().await else {
//!     return Err("no response".into());
//! };
//! assert_eq!(response.status, StatusCode::OK);
//!
//! alice.shutdown().await;
//! bob.shutdown().await;
//! answer.await??;
//! # Ok(())
//! # }
//! ```
#![forbid(unsafe_code)]

mod config;
mod conn;
mod core;
mod driver;
mod error;
mod runtime;
mod stream;
mod tls;
mod udp;
mod ws;

pub use config::ConnectionConfig;
pub use core::{BoundAddrs, Core, CoreOutput};
pub use driver::Stats;
pub use error::Error;
pub use runtime::{EventStream, Handle, Runtime, RuntimeBuilder};
pub use tls::{TlsClientConfig, TlsServerConfig};

/// The rustls crate this runtime uses, for [`TlsClientConfig::with_roots`],
/// [`TlsClientConfig::from_rustls`] and certificate types.
pub use rustls;
