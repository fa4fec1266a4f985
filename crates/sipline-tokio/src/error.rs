//! Errors of the runtime: setting it up, and commands that the driver refused.

use std::net::SocketAddr;

use sipline_proto::TransportKind;

/// An error of [`Runtime`](crate::Runtime) set-up or of a [`Handle`](crate::Handle) command.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// A listening socket could not be opened.
    #[error("cannot listen for {transport} on {addr}: {source}")]
    Bind {
        /// The transport of the listener.
        transport: TransportKind,
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
    /// A TLS configuration is unusable (bad PEM, key not matching the certificate, no trust
    /// anchor, invalid server name).
    #[error("TLS configuration: {context}")]
    Tls {
        /// What was being set up.
        context: String,
        /// Why it failed, when a library said.
        #[source]
        source: Option<Box<dyn std::error::Error + Send + Sync>>,
    },
    /// The sans-IO core refused the command (bad Via branch, unknown transaction, ...).
    #[error(transparent)]
    Core(#[from] sipline_proto::Error),
    /// The runtime has shut down: its driver task is gone.
    #[error("the SIP runtime has shut down")]
    Closed,
}

impl Error {
    pub(crate) fn tls(
        context: impl Into<String>,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Self {
        Error::Tls {
            context: context.into(),
            source: Some(Box::new(source)),
        }
    }
}
