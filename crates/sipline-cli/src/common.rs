//! What `sipline call` and `sipline answer` share: transport, identity, registration, media
//! and tracing options, and building the user agent from them.

use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use clap::Args;
use sipline::{
    AudioSink, AudioSource, Rel100, TlsClientConfig, TlsServerConfig, ToneSource, TransportKind,
    Ua, WavRecorder, WavSource,
};

/// The sample rate of everything we play and record (G.711).
pub(crate) const RATE: u32 = 8000;

/// An error that ends the command: what went wrong and what to do about it.
#[derive(Debug)]
pub(crate) struct CliError(pub(crate) String);

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl CliError {
    /// Prints the error and returns the exit code for a setup failure (2).
    pub(crate) fn exit(&self) -> ExitCode {
        eprintln!("sipline: {self}");
        ExitCode::from(2)
    }
}

/// Shorthand for a [`CliError`].
pub(crate) fn err<T>(msg: impl Into<String>) -> Result<T, CliError> {
    Err(CliError(msg.into()))
}

/// One `--listen` value: `udp:`, `tcp:`, `tls:`, `ws:` or `wss:` and an address.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Listen {
    /// The transport.
    pub(crate) kind: TransportKind,
    /// Where to bind (port 0: any free port).
    pub(crate) addr: SocketAddr,
}

/// The `--listen` prefix of a transport.
pub(crate) fn kind_name(kind: TransportKind) -> &'static str {
    match kind {
        TransportKind::Tcp => "tcp",
        TransportKind::Tls => "tls",
        TransportKind::Ws => "ws",
        TransportKind::Wss => "wss",
        _ => "udp",
    }
}

fn kind_from_name(name: &str) -> Option<TransportKind> {
    Some(match name.to_ascii_lowercase().as_str() {
        "udp" => TransportKind::Udp,
        "tcp" => TransportKind::Tcp,
        "tls" => TransportKind::Tls,
        "ws" => TransportKind::Ws,
        "wss" => TransportKind::Wss,
        _ => return None,
    })
}

/// Parses `udp:127.0.0.1:5070` (clap value parser of `--listen`).
pub(crate) fn parse_listen(s: &str) -> Result<Listen, String> {
    let (kind, addr) = s
        .split_once(':')
        .ok_or_else(|| format!("{s:?}: expected TRANSPORT:HOST:PORT, e.g. udp:127.0.0.1:5070"))?;
    let kind = kind_from_name(kind)
        .ok_or_else(|| format!("{s:?}: the transport is one of udp, tcp, tls, ws, wss"))?;
    let addr = addr.parse::<SocketAddr>().map_err(|_| {
        format!("{s:?}: {addr:?} is not an IP address and port, e.g. 127.0.0.1:5070 or [::1]:0")
    })?;
    Ok(Listen { kind, addr })
}

/// Parses a duration: `500ms`, `5s`, `1m`, `1h`, or a bare number of seconds (`2`, `1.5`).
/// `--turn turn:HOST[:PORT][?transport=udp]`: a TURN URI (RFC 7065 §3.1) over UDP, checked
/// here and resolved when the user agent starts.
pub(crate) fn parse_turn(s: &str) -> Result<String, String> {
    let url: sipline::TurnUrl = s
        .parse()
        .map_err(|e| format!("{e} (want turn:HOST:PORT, e.g. turn:turn.example.net:3478)"))?;
    if url.secure || url.transport != sipline::TurnTransport::Udp {
        return Err(format!("{s:?}: only TURN over UDP is supported"));
    }
    Ok(s.to_owned())
}

/// `--stun HOST:PORT`, resolved (an IPv4 address first: media sockets usually are).
pub(crate) fn parse_stun(s: &str) -> Result<SocketAddr, String> {
    use std::net::ToSocketAddrs;
    let addrs: Vec<SocketAddr> = s
        .to_socket_addrs()
        .map_err(|e| format!("{s:?}: {e} (want HOST:PORT, e.g. stun.example.net:3478)"))?
        .collect();
    addrs
        .iter()
        .find(|a| a.is_ipv4())
        .or_else(|| addrs.first())
        .copied()
        .ok_or_else(|| format!("{s:?}: the name has no address"))
}

pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num
        .parse()
        .map_err(|_| format!("{s:?}: expected a duration such as 500ms, 5s or 1m"))?;
    let scale = match unit.trim() {
        "ms" => 0.001,
        "" | "s" | "sec" => 1.0,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        other => return Err(format!("{s:?}: unknown unit {other:?} (use ms, s, m or h)")),
    };
    Duration::try_from_secs_f64(value * scale).map_err(|e| format!("{s:?}: {e}"))
}

/// Options of every command that runs a user agent.
#[derive(Debug, Args)]
pub(crate) struct UaArgs {
    /// Where to listen: udp:, tcp:, tls:, ws: or wss: and HOST:PORT; may be repeated. The
    /// first one also gives the media (RTP) address.
    #[arg(long, value_name = "TRANSPORT:HOST:PORT", value_parser = parse_listen,
          default_value = "udp:127.0.0.1:0")]
    pub(crate) listen: Vec<Listen>,

    /// Our address of record; by default `sip:sipline@` and the first listen host.
    #[arg(
        long,
        help = "Our address of record [default: sip:sipline@<first listen host>]"
    )]
    pub(crate) uri: Option<String>,

    /// Certificate chain (PEM) presented by tls: and wss: listeners.
    #[arg(long, value_name = "PEM")]
    pub(crate) tls_cert: Option<PathBuf>,

    /// Private key (PEM) of --tls-cert.
    #[arg(long, value_name = "PEM")]
    pub(crate) tls_key: Option<PathBuf>,

    /// A CA certificate (PEM) to trust for outgoing TLS and WSS connections.
    #[arg(long, value_name = "PEM")]
    pub(crate) tls_ca: Option<PathBuf>,

    /// Send requests outside a dialog (INVITE, REGISTER) through this outbound proxy:
    /// ws://HOST:PORT, wss://..., udp:HOST:PORT, tcp:..., tls:..., or a sip: URI.
    #[arg(long, value_name = "URI")]
    pub(crate) proxy: Option<String>,

    /// Register before calling or answering (with --registrar, --user, --password).
    #[arg(long)]
    pub(crate) register: bool,

    /// The registrar [default: the proxy's host, else the target's host].
    #[arg(long, value_name = "URI")]
    pub(crate) registrar: Option<String>,

    /// The digest username, for --register and for calls the peer challenges (401/407)
    /// [default: the user part of --uri].
    #[arg(long)]
    pub(crate) user: Option<String>,

    /// The digest password, for --register and for calls the peer challenges.
    #[arg(long)]
    pub(crate) password: Option<String>,

    /// What to send: tone:FREQ (a sine at -10 dBFS) or an 8 kHz mono WAV file [default:
    /// silence].
    #[arg(long, value_name = "tone:HZ|FILE.wav")]
    pub(crate) play: Option<String>,

    /// Record what the other side sends (mono, 8 kHz, 16-bit WAV).
    #[arg(long, value_name = "FILE.wav")]
    pub(crate) record: Option<PathBuf>,

    /// Send this encoded video file over WebRTC, as it is (no re-encoding): VP8/VP9/H.264 in
    /// IVF, or an H.264 Annex B byte stream (.h264/.264, frame rate --video-fps).
    #[arg(long, value_name = "FILE.ivf|FILE.h264")]
    pub(crate) video_play: Option<PathBuf>,

    /// Record the video the other side sends, as it arrives: IVF (any codec, the fourcc is
    /// the codec that arrived) or .h264 (H.264 Annex B only).
    #[arg(long, value_name = "FILE.ivf|FILE.h264")]
    pub(crate) video_record: Option<PathBuf>,

    /// Frames per second of an --video-play Annex B file (it carries no timing).
    #[arg(long, value_name = "FPS", default_value_t = 30.0)]
    pub(crate) video_fps: f64,

    /// Print each SIP message sent and received (on standard error).
    #[arg(long)]
    pub(crate) trace: bool,

    /// A STUN server (RFC 5389) for WebRTC calls: our public address from it is offered as
    /// a server-reflexive ICE candidate (RFC 8445 §5.1.1.2), e.g. stun.example.net:3478.
    /// The name is resolved once, at start.
    #[arg(long, value_name = "HOST:PORT", value_parser = parse_stun)]
    pub(crate) stun: Option<SocketAddr>,

    /// A TURN server (RFC 8656) for WebRTC calls, over UDP: a relayed address allocated on
    /// it is offered as a `typ relay` ICE candidate, e.g. turn:turn.example.net:3478. Needs
    /// --turn-user and --turn-password (long-term credentials, RFC 8489 §9.2).
    #[arg(long, value_name = "turn:HOST:PORT", value_parser = parse_turn, requires_all = ["turn_user", "turn_password"])]
    pub(crate) turn: Option<String>,

    /// The username of the --turn server's long-term credential.
    #[arg(long, value_name = "USER", requires = "turn")]
    pub(crate) turn_user: Option<String>,

    /// The password of the --turn server's long-term credential.
    #[arg(long, value_name = "PASSWORD", requires = "turn")]
    pub(crate) turn_password: Option<String>,

    /// Offer and check relayed ICE candidates only (a browser's iceTransportPolicy
    /// "relay"): all WebRTC media goes through the --turn server.
    #[arg(long, requires = "turn")]
    pub(crate) relay_only: bool,

    /// Most live SIP transactions (each call keeps its INVITE and BYE transactions for
    /// 32 s after it ends, RFC 3261 §17 / RFC 6026); beyond it new requests get 503.
    /// Raise it for sustained load: about 64 per call/s.
    #[arg(long, value_name = "N", default_value_t = 100_000)]
    pub(crate) max_transactions: usize,
}

/// Installs the log output on standard error: warnings always, and with `--trace` each SIP
/// message sent or received (the runtime logs them at debug level, target `sipline::wire`),
/// printed as a header line and the message as is.
pub(crate) fn init_tracing(trace: bool) {
    use tracing_subscriber::Layer;
    use tracing_subscriber::filter::{LevelFilter, Targets};
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let warnings = tracing_subscriber::fmt::layer()
        .with_writer(std::io::stderr)
        .with_target(false)
        .with_filter(LevelFilter::WARN);
    let wire = trace.then(|| {
        WireTrace.with_filter(Targets::new().with_target("sipline::wire", LevelFilter::DEBUG))
    });
    // A second initialisation (none here) would only be ignored.
    let _ = tracing_subscriber::registry()
        .with(warnings)
        .with(wire)
        .try_init();
}

/// Prints the runtime's `sipline::wire` events: one header line (direction, transport,
/// peer, size) and the message.
pub(crate) struct WireTrace;

/// The fields of one `sipline::wire` event.
#[derive(Default)]
struct WireFields {
    message: String,
    transport: String,
    remote: String,
    len: String,
}

impl tracing_subscriber::field::Visit for WireFields {
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn fmt::Debug) {
        let v = format!("{value:?}");
        match field.name() {
            "message" => self.message = v,
            "transport" => self.transport = v,
            "remote" => self.remote = v,
            "len" => self.len = v,
            _ => {}
        }
    }

    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_owned();
        } else {
            self.record_debug(field, &value);
        }
    }
}

impl<S: tracing::Subscriber> tracing_subscriber::Layer<S> for WireTrace {
    fn on_event(
        &self,
        event: &tracing::Event<'_>,
        _ctx: tracing_subscriber::layer::Context<'_, S>,
    ) {
        use std::io::Write;
        let mut f = WireFields::default();
        event.record(&mut f);
        let (dir, text) = match f.message.split_once('\n') {
            Some((d, t)) => (d.to_owned(), t.replace("\r\n", "\n")),
            None => (f.message.clone(), String::new()),
        };
        let arrow = if dir == "send" {
            format!("sent to {}", f.remote)
        } else {
            format!("received from {}", f.remote)
        };
        let mut out = std::io::stderr().lock();
        let _ = writeln!(
            out,
            "----- {arrow} over {} ({} bytes)\n{}",
            f.transport,
            f.len,
            text.trim_end_matches('\n')
        );
    }
}

/// A `--proxy` value as a `sip:` URI with a `transport` parameter.
pub(crate) fn proxy_uri(proxy: &str) -> Result<String, CliError> {
    let p = proxy.trim();
    if p.starts_with("sip:") || p.starts_with("sips:") {
        return Ok(p.to_owned());
    }
    let (kind, rest) = if let Some(r) = p.strip_prefix("wss://") {
        (TransportKind::Wss, r)
    } else if let Some(r) = p.strip_prefix("ws://") {
        (TransportKind::Ws, r)
    } else if let Some((k, r)) = p.split_once(':')
        && let Some(kind) = kind_from_name(k)
    {
        (kind, r.trim_start_matches("//"))
    } else {
        return err(format!(
            "--proxy {proxy}: expected ws://HOST:PORT, wss://..., udp:HOST:PORT, tcp:..., \
             tls:... or a sip: URI"
        ));
    };
    // A WebSocket URL's path is not part of the SIP next hop.
    let hostport = rest.split('/').next().unwrap_or(rest);
    if hostport.is_empty() {
        return err(format!("--proxy {proxy}: no host"));
    }
    Ok(match kind {
        TransportKind::Udp => format!("sip:{hostport}"),
        k => format!("sip:{hostport};transport={}", kind_name(k)),
    })
}

/// The transport a `sip:` URI asks for (its `transport` parameter; UDP by default).
pub(crate) fn uri_transport(uri: &str) -> TransportKind {
    uri.split(';')
        .skip(1)
        .filter_map(|p| p.split_once('='))
        .find(|(k, _)| k.trim().eq_ignore_ascii_case("transport"))
        .and_then(|(_, v)| kind_from_name(v.trim().trim_end_matches('>')))
        .unwrap_or(TransportKind::Udp)
}

/// The `host[:port]` of a `sip:` URI.
pub(crate) fn uri_hostport(uri: &str) -> &str {
    let u = uri.trim_start_matches('<');
    let u = u
        .strip_prefix("sips:")
        .or_else(|| u.strip_prefix("sip:"))
        .unwrap_or(u);
    let u = u.split([';', '?', '>']).next().unwrap_or(u);
    u.rsplit_once('@').map_or(u, |(_, h)| h)
}

/// A target as a URI: `sip:` is added when missing.
pub(crate) fn target_uri(target: &str) -> String {
    let t = target.trim();
    if t.starts_with("sip:") || t.starts_with("sips:") || t.starts_with('<') {
        t.to_owned()
    } else {
        format!("sip:{t}")
    }
}

fn read(path: &Path, what: &str) -> Result<Vec<u8>, CliError> {
    std::fs::read(path).or_else(|e| err(format!("cannot read {what} {}: {e}", path.display())))
}

/// What the user agent needs beyond [`UaArgs`].
#[derive(Debug, Default)]
pub(crate) struct UaNeeds {
    /// Transports requests will go out on (the target's, the proxy's): a listener of each
    /// kind is added on the first listen host when none was given.
    pub(crate) transports: Vec<TransportKind>,
    /// The registrar when --registrar is not given.
    pub(crate) default_registrar: Option<String>,
    /// Reliable provisional responses.
    pub(crate) rel100: Rel100,
}

/// Builds and starts the user agent and prints the bound addresses
/// (`listening on udp:127.0.0.1:5070`).
pub(crate) async fn build_ua(args: &UaArgs, needs: UaNeeds) -> Result<Ua, CliError> {
    let mut listen = args.listen.clone();
    let first = listen
        .first()
        .copied()
        .ok_or_else(|| CliError("give at least one --listen".into()))?;
    let proxy = args.proxy.as_deref().map(proxy_uri).transpose()?;
    let mut wanted = needs.transports.clone();
    if let Some(p) = &proxy {
        wanted.push(uri_transport(p));
    }
    for kind in wanted {
        if !listen.iter().any(|l| l.kind == kind) {
            listen.push(Listen {
                kind,
                addr: SocketAddr::new(first.addr.ip(), 0),
            });
        }
    }
    let needs_cert = listen
        .iter()
        .any(|l| matches!(l.kind, TransportKind::Tls | TransportKind::Wss));
    let server_tls = match (&args.tls_cert, &args.tls_key) {
        (Some(c), Some(k)) => Some(
            TlsServerConfig::from_pem(&read(c, "--tls-cert")?, &read(k, "--tls-key")?)
                .map_err(|e| CliError(format!("--tls-cert/--tls-key: {e}")))?,
        ),
        (None, None) if needs_cert => {
            return err(
                "tls: and wss: need a certificate (also to call out over them): give \
                 --tls-cert CERT.pem --tls-key KEY.pem",
            );
        }
        (None, None) => None,
        _ => return err("--tls-cert and --tls-key go together"),
    };
    let uri = args.uri.clone().unwrap_or_else(|| match first.addr.ip() {
        std::net::IpAddr::V6(ip) => format!("sip:sipline@[{ip}]"),
        ip => format!("sip:sipline@{ip}"),
    });
    let mut b = Ua::builder()
        .uri(uri)
        .max_transactions(args.max_transactions)
        .rel100(needs.rel100)
        .user_agent(concat!("sipline-cli/", env!("CARGO_PKG_VERSION")));
    for l in &listen {
        b = match (l.kind, &server_tls) {
            (TransportKind::Tcp, _) => b.tcp(l.addr),
            (TransportKind::Ws, _) => b.ws(l.addr),
            (TransportKind::Tls, Some(cfg)) => b.tls(l.addr, cfg.clone()),
            (TransportKind::Wss, Some(cfg)) => b.wss(l.addr, cfg.clone()),
            _ => b.udp(l.addr),
        };
    }
    if let Some(ca) = &args.tls_ca {
        let cfg = TlsClientConfig::trust_ca(&read(ca, "--tls-ca")?)
            .map_err(|e| CliError(format!("--tls-ca: {e}")))?;
        b = b.tls_client(cfg);
    }
    if let Some(p) = &proxy {
        b = b.outbound_proxy(p.clone());
    }
    if let Some(stun) = args.stun {
        b = b.stun_server(stun);
    }
    if let (Some(url), Some(user), Some(password)) =
        (&args.turn, &args.turn_user, &args.turn_password)
    {
        b = b.turn_server(url.clone(), user.clone(), password.clone());
    }
    b = b.relay_only(args.relay_only);
    if let Some(user) = &args.user {
        b = b.authorization_user(user.clone());
    }
    if let Some(pw) = &args.password {
        b = b.password(pw.clone());
    }
    if args.register {
        let registrar = args
            .registrar
            .clone()
            .or_else(|| proxy.as_deref().map(|p| format!("sip:{}", uri_hostport(p))))
            .or(needs.default_registrar)
            .ok_or_else(|| CliError("--register needs --registrar URI (or --proxy)".into()))?;
        let registrar = target_uri(&registrar);
        eprintln!("registering with {registrar}");
        b = b.registrar(registrar);
    } else if args.registrar.is_some() {
        eprintln!("sipline: note: --registrar only matters with --register");
    }
    let ua = b
        .build()
        .await
        .map_err(|e| build_error(&e, &listen, args.register))?;
    for kind in [
        TransportKind::Udp,
        TransportKind::Tcp,
        TransportKind::Tls,
        TransportKind::Ws,
        TransportKind::Wss,
    ] {
        if let Some(addr) = ua.local_addr(kind) {
            println!("listening on {}:{addr}", kind_name(kind));
        }
    }
    if args.register {
        println!("registered as {}", ua.identity());
    }
    Ok(ua)
}

/// Says what to do about a user agent that did not start.
fn build_error(e: &sipline::Error, listen: &[Listen], registering: bool) -> CliError {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(s) = source {
        if let Some(io) = s.downcast_ref::<std::io::Error>() {
            let text = e.to_string();
            let addr = listen
                .iter()
                .map(|l| l.addr)
                .find(|a| text.contains(&a.to_string()));
            let at = addr.map_or_else(|| "the address".to_owned(), |a| format!("address {a}"));
            return match io.kind() {
                std::io::ErrorKind::AddrInUse => {
                    CliError(format!("{at} in use: pick another with --listen"))
                }
                std::io::ErrorKind::AddrNotAvailable => CliError(format!(
                    "{at} is not an address of this machine: pick another with --listen"
                )),
                std::io::ErrorKind::PermissionDenied => CliError(format!(
                    "{at}: permission denied (ports below 1024 need privileges): pick \
                     another with --listen"
                )),
                _ => CliError(format!("{e}")),
            };
        }
        source = s.source();
    }
    match e {
        sipline::Error::Rejected(status) if registering => CliError(format!(
            "registration refused with {status} {}: check --user and --password",
            status.canonical_reason()
        )),
        _ => CliError(format!("cannot start the user agent: {e}")),
    }
}

/// One line of media statistics for the end of a call (sent, received, lost, jitter, RTT:
/// RFC 3550 §6.4 figures).
pub(crate) fn media_summary(s: &sipline::MediaStats) -> String {
    let mut line = format!(
        "media: {} packets ({} B) sent, {} packets ({} B) received, {} lost, jitter {:.1} ms",
        s.packets_sent,
        s.bytes_sent,
        s.packets_received,
        s.bytes_received,
        s.packets_lost,
        s.jitter.as_secs_f64() * 1000.0
    );
    if let Some(rtt) = s.rtt {
        line.push_str(&format!(", rtt {:.1} ms", rtt.as_secs_f64() * 1000.0));
    }
    if s.dtmf_sent + s.dtmf_received > 0 {
        line.push_str(&format!(
            ", dtmf {} sent / {} received",
            s.dtmf_sent, s.dtmf_received
        ));
    }
    line
}

/// The video source of `--video-play`, if any.
pub(crate) fn video_source(
    path: Option<&Path>,
    fps: f64,
) -> Result<Option<Box<dyn sipline::VideoSource>>, CliError> {
    let Some(path) = path else { return Ok(None) };
    let ext = path
        .extension()
        .map(|e| e.to_string_lossy().to_ascii_lowercase());
    let source: Result<Box<dyn sipline::VideoSource>, _> = match ext.as_deref() {
        Some("h264" | "264" | "avc") => {
            sipline::AnnexBSource::open_with_rate(path, fps).map(|s| Box::new(s) as _)
        }
        _ => sipline::open_video_source(path),
    };
    source
        .map(Some)
        .map_err(|e| CliError(format!("--video-play {}: {e}", path.display())))
}

/// The video recorder of `--video-record` at `path`, if any.
pub(crate) fn video_recorder(
    path: Option<&Path>,
) -> Result<Option<Box<dyn sipline::VideoSink>>, CliError> {
    let Some(path) = path else { return Ok(None) };
    sipline::create_video_recorder(path)
        .map(Some)
        .map_err(|e| CliError(format!("--video-record {}: {e}", path.display())))
}

/// The audio source of `--play`: `tone:FREQ` or an 8 kHz mono WAV file; silence without.
pub(crate) fn audio_source(play: Option<&str>) -> Result<Box<dyn AudioSource>, CliError> {
    let Some(play) = play else {
        return Ok(Box::new(sipline::SilenceSource::new(RATE)));
    };
    if let Some(freq) = play.strip_prefix("tone:") {
        let f: f32 = freq
            .trim()
            .trim_end_matches("Hz")
            .parse()
            .ok()
            .filter(|f: &f32| *f > 0.0 && *f < RATE as f32 / 2.0)
            .ok_or_else(|| {
                CliError(format!(
                    "--play {play}: the tone frequency is a number of hertz below 4000, \
                     e.g. tone:440"
                ))
            })?;
        return Ok(Box::new(ToneSource::new(RATE, f, -10.0)));
    }
    let path = Path::new(play);
    let spec = hound::WavReader::open(path)
        .map_err(|e| CliError(format!("--play {play}: {e} (want tone:HZ or a WAV file)")))?
        .spec();
    if spec.sample_rate != RATE || spec.channels != 1 {
        return err(format!(
            "--play {play}: the WAV file is {} Hz with {} channel(s); it must be 8000 Hz mono \
             (e.g. `sox {play} -r 8000 -c 1 out.wav`)",
            spec.sample_rate, spec.channels
        ));
    }
    let src = WavSource::open(path).map_err(|e| CliError(format!("--play {play}: {e}")))?;
    Ok(Box::new(src))
}

/// A WAV recorder that stays reachable after the session took its sink, so it can be
/// finalized (header lengths written) when the call ends.
#[derive(Clone)]
pub(crate) struct Recorder {
    inner: Arc<Mutex<Option<WavRecorder>>>,
    path: PathBuf,
}

impl Recorder {
    /// Creates the WAV file.
    pub(crate) fn create(path: &Path) -> Result<Self, CliError> {
        let rec = WavRecorder::create(path, RATE)
            .map_err(|e| CliError(format!("--record {}: {e}", path.display())))?;
        Ok(Self {
            inner: Arc::new(Mutex::new(Some(rec))),
            path: path.to_owned(),
        })
    }

    /// The sink to give the session.
    pub(crate) fn sink(&self) -> Box<dyn AudioSink> {
        Box::new(self.clone())
    }

    /// Writes the header and closes the file; reports a failure on standard error.
    pub(crate) fn finish(&self) {
        let rec = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(rec) = rec
            && let Err(e) = rec.finalize()
        {
            eprintln!("sipline: recording {}: {e}", self.path.display());
        }
    }
}

impl AudioSink for Recorder {
    fn sample_rate(&self) -> u32 {
        RATE
    }

    fn write(&mut self, frame: &[i16]) {
        let mut g = self
            .inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(rec) = g.as_mut() {
            rec.write(frame);
        }
    }
}

/// Ctrl-C presses, as a channel a loop can select on without missing one.
pub(crate) fn interrupts() -> tokio::sync::mpsc::UnboundedReceiver<()> {
    let (tx, rx) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            ctrl_c().await;
            if tx.send(()).is_err() {
                return;
            }
        }
    });
    rx
}

/// Sleeps until `at`, or for ever without one.
pub(crate) async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Removes our registration if we made one (bounded: 3 s), then stops the user agent
/// (bounded too: the process exits anyway).
pub(crate) async fn stop(ua: &Ua, registered: bool) {
    if registered {
        match tokio::time::timeout(Duration::from_secs(3), ua.unregister()).await {
            Ok(Ok(())) => println!("unregistered"),
            Ok(Err(e)) => println!("unregistering failed: {e}"),
            Err(_) => println!("unregistering: no answer within 3 s"),
        }
    }
    let _ = tokio::time::timeout(Duration::from_secs(2), ua.stop()).await;
}

/// Resolves on Ctrl-C (never, if the handler cannot be installed).
pub(crate) async fn ctrl_c() {
    if tokio::signal::ctrl_c().await.is_err() {
        std::future::pending::<()>().await;
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn turn_servers() {
        assert_eq!(
            parse_turn("turn:127.0.0.1:3478?transport=udp").unwrap(),
            "turn:127.0.0.1:3478?transport=udp"
        );
        assert!(parse_turn("turn:h").is_ok());
        for bad in [
            "127.0.0.1:3478",
            "turns:h:5349",
            "turn:h:1?transport=tcp",
            "turn:h:0",
        ] {
            assert!(parse_turn(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn stun_servers() {
        assert_eq!(
            parse_stun("127.0.0.1:3478").unwrap(),
            "127.0.0.1:3478".parse::<SocketAddr>().unwrap()
        );
        assert!(parse_stun("127.0.0.1").is_err(), "no port");
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("500ms").unwrap(), Duration::from_millis(500));
        assert_eq!(parse_duration("5s").unwrap(), Duration::from_secs(5));
        assert_eq!(parse_duration("1m").unwrap(), Duration::from_secs(60));
        assert_eq!(parse_duration("2").unwrap(), Duration::from_secs(2));
        assert_eq!(parse_duration("1.5s").unwrap(), Duration::from_millis(1500));
        assert!(parse_duration("5x").is_err());
        assert!(parse_duration("s").is_err());
        assert!(parse_duration("").is_err());
    }

    #[test]
    fn listens() {
        let l = parse_listen("ws:127.0.0.1:8089").unwrap();
        assert_eq!(l.kind, TransportKind::Ws);
        assert_eq!(l.addr, "127.0.0.1:8089".parse().unwrap());
        assert_eq!(
            parse_listen("udp:[::1]:0").unwrap().addr,
            "[::1]:0".parse().unwrap()
        );
        assert!(parse_listen("sctp:127.0.0.1:1").is_err());
        assert!(parse_listen("udp:localhost:5060").is_err());
        assert!(parse_listen("127.0.0.1:5060").is_err());
    }

    #[test]
    fn proxies_and_uris() {
        assert_eq!(
            proxy_uri("ws://127.0.0.1:8089/ws").unwrap(),
            "sip:127.0.0.1:8089;transport=ws"
        );
        assert_eq!(proxy_uri("udp:10.0.0.1:5060").unwrap(), "sip:10.0.0.1:5060");
        assert_eq!(
            proxy_uri("tls:proxy.example:5061").unwrap(),
            "sip:proxy.example:5061;transport=tls"
        );
        assert!(proxy_uri("http://x").is_err());
        assert_eq!(
            uri_transport("sip:a@1.2.3.4;transport=TCP"),
            TransportKind::Tcp
        );
        assert_eq!(uri_transport("sip:a@1.2.3.4"), TransportKind::Udp);
        assert_eq!(
            uri_hostport("sip:bob@10.0.0.1:5070;transport=ws"),
            "10.0.0.1:5070"
        );
        assert_eq!(target_uri("bob@10.0.0.1"), "sip:bob@10.0.0.1");
    }
}
