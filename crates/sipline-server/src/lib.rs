//! # sipline-server
//!
//! A small SIP registrar and stateful proxy (RFC 3261 §10, §16) on the sipline sans-IO
//! core, for `sipline serve`, the demo and tests. It is not a PBX: it registers users
//! (digest against a users file, or open registration), finds them, forks to every
//! registered contact, record-routes so WebSocket and UDP/TCP clients reach each other
//! (RFC 7118 §5, RFC 5626 flow reuse, RFC 5658 double record-routing), and answers
//! OPTIONS keep-alives.
//!
//! ```no_run
//! # async fn f() -> Result<(), Box<dyn std::error::Error>> {
//! use sipline_server::{Server, TransportKind, Users};
//! let server = Server::builder()
//!     .udp("127.0.0.1:0".parse()?)
//!     .ws("127.0.0.1:0".parse()?)
//!     .domain("sipline.test")
//!     .users(Users::parse("alice:secret\nbob:secret\n")?)
//!     .start()
//!     .await?;
//! println!("UDP on {:?}", server.local_addr(TransportKind::Udp));
//! server.shutdown().await;
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

pub mod location;
pub mod proxy;
pub mod record_route;
pub mod registrar;
pub mod server;
pub mod users;

pub use location::{Binding, Location, Registration};
pub use proxy::{ProxyConfig, ServerConfig, ServerCore, ServerEvent, UnregisterReason};
pub use registrar::{BindingChange, RegistrarConfig};
pub use server::{Error, Server, ServerBuilder};
pub use sipline_proto::TransportKind;
pub use sipline_tokio::{Error as RuntimeError, TlsServerConfig};
pub use users::{Users, UsersError};
