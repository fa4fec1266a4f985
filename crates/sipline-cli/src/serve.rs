//! `sipline serve`: runs the registrar and proxy of `sipline-server` (RFC 3261 §10, §16)
//! on UDP, TCP, WebSocket and, with a certificate, TLS and secure WebSocket; prints one
//! line per listener, registration change and routed request; exits 0 on Ctrl-C.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use sipline::{TlsServerConfig, TransportKind};
use sipline_server::{Server, ServerEvent, UnregisterReason, Users};

use crate::common::{self, Listen, kind_name, parse_listen};

/// Default listeners: UDP and TCP on the SIP port, WebSocket on 5066.
const DEFAULT_LISTEN: [&str; 3] = [
    "udp:127.0.0.1:5060",
    "tcp:127.0.0.1:5060",
    "ws:127.0.0.1:5066",
];

/// Options of `sipline serve`.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// Where to listen: udp:|tcp:|ws:|tls:|wss:HOST:PORT, repeatable (port 0: any free
    /// port). Default: udp:127.0.0.1:5060, tcp:127.0.0.1:5060 and ws:127.0.0.1:5066.
    #[arg(long, value_name = "TRANSPORT:HOST:PORT", value_parser = parse_listen)]
    listen: Vec<Listen>,

    /// Certificate chain (PEM) for tls: and wss: listeners.
    #[arg(long, value_name = "CERT.pem")]
    tls_cert: Option<PathBuf>,

    /// Private key (PEM) for tls: and wss: listeners.
    #[arg(long, value_name = "KEY.pem")]
    tls_key: Option<PathBuf>,

    /// Users allowed to register, with digest authentication: one `user:password` per
    /// line, `#` starts a comment line. Without it, anyone may register.
    #[arg(long, value_name = "FILE")]
    users: Option<PathBuf>,

    /// Our domain (also the digest realm): requests for it, or for our listener
    /// addresses, are ours; others are forwarded to their host.
    #[arg(long, value_name = "DOMAIN")]
    domain: Option<String>,

    /// Also serve the browser phone page (SIP.js over this server's WebSocket listener)
    /// over HTTP at HOST:PORT (default 127.0.0.1:8080): open it, register, call.
    #[arg(long, value_name = "HOST:PORT", num_args = 0..=1, default_missing_value = "127.0.0.1:8080")]
    web: Option<std::net::SocketAddr>,

    /// Print each SIP message sent and received (on standard error).
    #[arg(long)]
    trace: bool,
}

/// The domain the phone page registers in when `--web` is given without `--domain`.
const WEB_DOMAIN: &str = "sipline.local";

/// Runs the server until Ctrl-C: 0 then, 2 when it cannot start.
pub(crate) async fn run(args: ServeArgs) -> ExitCode {
    common::init_tracing(args.trace);
    match serve(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => {
            eprintln!("error: {msg}");
            ExitCode::from(2)
        }
    }
}

fn read(path: &PathBuf, what: &str) -> Result<Vec<u8>, String> {
    std::fs::read(path).map_err(|e| format!("cannot read {what} {}: {e}", path.display()))
}

async fn serve(args: ServeArgs) -> Result<(), String> {
    let listen: Vec<Listen> = if args.listen.is_empty() {
        DEFAULT_LISTEN
            .iter()
            .filter_map(|s| parse_listen(s).ok())
            .collect()
    } else {
        args.listen.clone()
    };
    let tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(
            TlsServerConfig::from_pem(&read(c, "--tls-cert")?, &read(k, "--tls-key")?)
                .map_err(|e| format!("--tls-cert/--tls-key: {e}"))?,
        ),
        (None, None) => None,
        _ => return Err("--tls-cert and --tls-key go together".into()),
    };
    let mut b = Server::builder();
    for l in &listen {
        b = match (l.kind, &tls) {
            (TransportKind::Udp, _) => b.udp(l.addr),
            (TransportKind::Tcp, _) => b.tcp(l.addr),
            (TransportKind::Ws, _) => b.ws(l.addr),
            (TransportKind::Tls, Some(t)) => b.tls(l.addr, t.clone()),
            (TransportKind::Wss, Some(t)) => b.wss(l.addr, t.clone()),
            (k, None) => {
                return Err(format!(
                    "{}: needs a certificate: give --tls-cert CERT.pem --tls-key KEY.pem",
                    kind_name(k)
                ));
            }
        };
    }
    let domain = args
        .domain
        .clone()
        .or_else(|| args.web.map(|_| WEB_DOMAIN.to_owned()));
    if let Some(d) = &domain {
        b = b.domain(d.clone());
    }
    if let Some(path) = &args.users {
        b = b.users(Users::from_file(path).map_err(|e| e.to_string())?);
    }
    let server = b.start().await.map_err(|e| start_error(&e))?;
    for l in &listen {
        if let Some(a) = server.local_addr(l.kind) {
            println!("listening on {}:{a}", kind_name(l.kind));
        }
    }
    // The phone page talks SIP over our WebSocket listener (RFC 7118).
    let _web = match args.web {
        Some(addr) => {
            let ws_url = match (
                server.local_addr(TransportKind::Ws),
                server.local_addr(TransportKind::Wss),
            ) {
                (Some(a), _) => format!("ws://{a}"),
                (None, Some(a)) => format!("wss://{a}"),
                (None, None) => {
                    return Err(
                        "--web needs a WebSocket listener: add --listen ws:127.0.0.1:5066".into(),
                    );
                }
            };
            let cfg = crate::web::WebConfig {
                ws_url,
                domain: domain.clone().unwrap_or_else(|| WEB_DOMAIN.to_owned()),
            };
            let web = crate::web::start(addr, cfg).await.map_err(|e| {
                format!("--web {addr}: {e}; choose another address with --web HOST:PORT")
            })?;
            println!("browser phone: http://{}/", web.local_addr());
            Some(web)
        }
        None => None,
    };
    loop {
        tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            ev = server.next_event() => match ev {
                Some(ev) => print_event(&ev),
                None => return Err("the server stopped".into()),
            },
        }
    }
    println!("stopping");
    server.shutdown().await;
    Ok(())
}

/// "127.0.0.1:5060 (udp) is in use; choose another with --listen" for a port in use.
fn start_error(e: &sipline_server::Error) -> String {
    if let sipline_server::Error::Runtime(sipline_server::RuntimeError::Bind {
        transport,
        addr,
        source,
    }) = e
    {
        let kind = kind_name(*transport);
        return match source.kind() {
            std::io::ErrorKind::AddrInUse => {
                format!("{addr} ({kind}) is in use; choose another with --listen")
            }
            _ => {
                format!("cannot listen on {addr} ({kind}): {source}; choose another with --listen")
            }
        };
    }
    e.to_string()
}

fn print_event(ev: &ServerEvent) {
    match ev {
        ServerEvent::Registered {
            aor,
            contact,
            expires,
            flow,
        } => println!(
            "registered {aor} at {contact} via {}:{} for {expires} s",
            kind_name(flow.transport),
            flow.remote
        ),
        ServerEvent::Unregistered {
            aor,
            contact,
            reason,
        } => {
            let why = match reason {
                UnregisterReason::Client => "by the client",
                UnregisterReason::Expired => "expired",
                UnregisterReason::ConnectionClosed => "connection closed",
            };
            println!("unregistered {aor} at {contact} ({why})");
        }
        ServerEvent::Routed {
            method,
            from,
            target,
            branches,
        } => println!(
            "routed {} from {from} to {target} -> {}",
            method.as_str(),
            branches.join(", ")
        ),
        ServerEvent::Refused {
            method,
            target,
            status,
        } => println!(
            "refused {} to {target}: {}",
            method.as_str(),
            status.as_u16()
        ),
        _ => {}
    }
}
