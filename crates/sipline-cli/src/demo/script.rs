//! The scripted call: alice calls bob, who answers with early media (a reliable 183,
//! RFC 3262), accepts, exchanges DTMF both ways (RFC 4733 and SIP INFO), mutes and unmutes,
//! then transfers alice to carol (REFER, RFC 3515, with sipfrag NOTIFYs); alice and carol
//! talk and hang up. Each step is a check with an expected outcome; the recordings are
//! checked at the end.

use std::time::{Duration, Instant};

use sipline::{
    AcceptOptions, ByeOptions, DtmfOptions, DtmfTransport, HeaderName, InviteOptions, MediaChoice,
    MediaStats, MuteOptions, ProgressOptions, ReferOptions, Rel100, Session, SessionEvent,
    StatusCode, ToneSource, Ua, UaEvent,
};
use tokio::time::timeout;

use super::directory::{self, Directory, PARTIES};
use super::ear::{self, Ear, Heard, Phase};
use super::ladder::Capture;
use super::out::Out;
use super::report::{Check, Row, summarize_events};
use crate::common::RATE;

/// How long any one wait of the script may take before the step fails.
const STEP_TIMEOUT: Duration = Duration::from_secs(20);
/// How long each talk phase lasts (what the recordings are checked on).
const TALK: Duration = Duration::from_millis(1500);
/// What a phase's check skips at its start: audio still in flight or in the jitter buffer.
const SETTLE_MS: usize = 400;
/// The tones' level.
const LEVEL_DBFS: f32 = -10.0;

/// What the demo runs with.
#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// Plain RTP or WebRTC media.
    pub(crate) media: MediaChoice,
    /// The tones alice, bob and carol play (Hz).
    pub(crate) tones: [f32; 3],
    /// What bob really plays (Hz): his tone, unless a test sabotages it to see a check fail.
    pub(crate) bob_plays: f32,
    /// Where the WAV recordings go.
    pub(crate) wav_dir: std::path::PathBuf,
}

/// What the script produced.
#[derive(Debug, Default)]
pub(crate) struct Outcome {
    /// Every check, in order.
    pub(crate) checks: Vec<Check>,
    /// The summary table.
    pub(crate) rows: Vec<Row>,
    /// The WAV files written.
    pub(crate) wavs: Vec<std::path::PathBuf>,
}

/// One party's side of one call.
struct Leg {
    who: &'static str,
    peer: &'static str,
    session: Session,
    events: Vec<&'static str>,
    /// DTMF received: the tone and whether it came by INFO.
    dtmf: Vec<(char, bool)>,
    ear: Ear,
    stats: Option<MediaStats>,
    setup: Option<Duration>,
}

fn event_name(e: &SessionEvent) -> &'static str {
    match e {
        SessionEvent::Progress { .. } => "Progress",
        SessionEvent::Connecting => "Connecting",
        SessionEvent::Accepted { .. } => "Accepted",
        SessionEvent::Rejected { .. } => "Rejected",
        SessionEvent::Failed { .. } => "Failed",
        SessionEvent::Cancel => "Cancel",
        SessionEvent::Refer { .. } => "Refer",
        SessionEvent::ReferProgress { .. } => "ReferProgress",
        SessionEvent::Dtmf { .. } => "Dtmf",
        SessionEvent::Muted { .. } => "Muted",
        SessionEvent::Unmuted { .. } => "Unmuted",
        SessionEvent::Bye { .. } => "Bye",
        SessionEvent::Terminated { .. } => "Terminated",
        _ => "other",
    }
}

impl Leg {
    fn new(who: &'static str, peer: &'static str, session: Session, ear: Ear) -> Self {
        Self {
            who,
            peer,
            session,
            events: Vec::new(),
            dtmf: Vec::new(),
            ear,
            stats: None,
            setup: None,
        }
    }

    fn record(&mut self, e: &SessionEvent) {
        self.events.push(event_name(e));
        if let SessionEvent::Dtmf { tone, request, .. } = e {
            self.dtmf.push((*tone, request.is_some()));
        }
    }

    /// The next event that `want` accepts (the others are recorded and passed over).
    async fn wait(
        &mut self,
        what: &str,
        mut want: impl FnMut(&SessionEvent) -> bool,
    ) -> Result<SessionEvent, String> {
        let until = tokio::time::Instant::now() + STEP_TIMEOUT;
        loop {
            match tokio::time::timeout_at(until, self.session.next_event()).await {
                Ok(Some(e)) => {
                    self.record(&e);
                    if want(&e) {
                        return Ok(e);
                    }
                }
                Ok(None) => {
                    return Err(format!(
                        "{}: the call with {} ended before {what}",
                        self.who, self.peer
                    ));
                }
                Err(_) => {
                    return Err(format!(
                        "{}: no {what} within {} s",
                        self.who,
                        STEP_TIMEOUT.as_secs()
                    ));
                }
            }
        }
    }

    /// Waits for `n` DTMF tones (at most `limit`); the tones received meanwhile.
    async fn dtmf(&mut self, n: usize, limit: Duration) -> Vec<(char, bool)> {
        let before = self.dtmf.len();
        let until = tokio::time::Instant::now() + limit;
        while self.dtmf.len() < before + n {
            match tokio::time::timeout_at(until, self.session.next_event()).await {
                Ok(Some(e)) => self.record(&e),
                _ => break,
            }
        }
        self.dtmf[before..].to_vec()
    }

    /// Records the events still queued (up to `limit` of quiet).
    async fn drain(&mut self, limit: Duration) {
        while let Ok(Some(e)) = timeout(limit, self.session.next_event()).await {
            self.record(&e);
        }
    }

    async fn take_stats(&mut self) {
        self.stats = self.session.stats().await;
    }

    fn row(&self, heard: Heard) -> Row {
        let s = self.stats.clone().unwrap_or_default();
        Row {
            party: format!("{} (with {})", self.who, self.peer),
            events: summarize_events(&self.events),
            dtmf: self.dtmf.iter().map(|(c, _)| *c).collect(),
            heard: heard.to_string(),
            sent: s.packets_sent,
            received: s.packets_received,
            lost: s.packets_lost,
            setup_ms: self.setup.map(|d| d.as_secs_f64() * 1000.0),
        }
    }
}

/// Which recording a phase is in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Rec {
    /// alice's call with bob.
    AliceBob,
    /// alice's call with carol.
    AliceCarol,
    Bob,
    Carol,
}

/// A phase of a recording and what should be heard in it.
struct Listen {
    check: String,
    rec: Rec,
    phase: Phase,
    /// A tone (Hz), or silence.
    expect: Option<f32>,
}

/// The script's state.
struct Run<'a> {
    cfg: &'a Config,
    out: &'a Out,
    checks: Vec<Check>,
    listens: Vec<Listen>,
    ab: Option<Leg>,
    ba: Option<Leg>,
    ac: Option<Leg>,
    ca: Option<Leg>,
}

impl Run<'_> {
    fn check(&mut self, c: Check) {
        if self.out.json() {
            self.out.json_line(&c.to_json());
        }
        self.checks.push(c);
    }

    fn tone(&self, i: usize) -> Box<ToneSource> {
        Box::new(ToneSource::new(RATE, self.cfg.tones[i], LEVEL_DBFS))
    }

    fn listen(&mut self, check: &str, rec: Rec, start: usize, end: usize, expect: Option<f32>) {
        self.listens.push(Listen {
            check: check.to_owned(),
            rec,
            phase: Phase::between(start, end, SETTLE_MS),
            expect,
        });
    }
}

/// Waits while `ears` record [`TALK`] of audio each: at least that long, and longer if
/// audio arrives slower than real time (a loaded machine), at most [`STEP_TIMEOUT`] more.
async fn record(ears: &[Ear]) {
    let want = (TALK.as_secs_f64() * f64::from(RATE)) as usize;
    let starts: Vec<usize> = ears.iter().map(Ear::mark).collect();
    tokio::time::sleep(TALK).await;
    let until = Instant::now() + STEP_TIMEOUT;
    while Instant::now() < until
        && ears
            .iter()
            .zip(&starts)
            .any(|(e, start)| e.mark() < start + want)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until `ear` hears sound in its last 200 ms (at most `limit`): media is flowing.
async fn until_sound(ear: &Ear, limit: Duration) -> bool {
    until(ear, false, limit).await
}

/// Waits until the last 200 ms of `ear` are quiet (`quiet`) or not, at most `limit`: a
/// change (media starts, a mute) reaches the ear after the network, the jitter buffer and,
/// on a loaded machine, the scheduler; the phase checked starts once it did.
async fn until(ear: &Ear, quiet: bool, limit: Duration) -> bool {
    let until = Instant::now() + limit;
    while Instant::now() < until {
        let s = ear.samples();
        let n = s.len();
        let recent = Phase::between(n.saturating_sub(RATE as usize / 5), n, 0);
        let heard = ear::listen(&s, recent);
        if heard.is_quiet() == quiet && heard != Heard::Nothing {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    false
}

/// The transport profile of our audio m-line (RFC 4566 §5.14) and the first codec
/// negotiated for it.
fn negotiated(session: &Session) -> (String, String) {
    let profile = session
        .local_description()
        .and_then(|sdp| {
            sdp.lines()
                .find_map(|l| l.strip_prefix("m=audio "))
                .and_then(|m| m.split_whitespace().nth(1).map(str::to_owned))
        })
        .unwrap_or_else(|| "no audio".to_owned());
    let codec = session
        .local_streams()
        .first()
        .and_then(|s| s.tracks.first())
        .and_then(|t| t.codecs.first().cloned())
        .unwrap_or_else(|| "no codec".to_owned());
    (profile, codec)
}

fn dtmf_text(got: &[(char, bool)]) -> String {
    if got.is_empty() {
        return "nothing".into();
    }
    got.iter()
        .map(|(c, info)| format!("{c} ({})", if *info { "INFO" } else { "RFC 4733" }))
        .collect::<Vec<_>>()
        .join(", ")
}

fn status_text(r: &sipline::Response) -> String {
    format!("{} {}", r.status, r.status.canonical_reason())
}

/// Starts the three user agents on 127.0.0.1 (ports chosen by the OS), each with the
/// embedded server at `server` as registrar and outbound proxy.
pub(crate) async fn start_uas(server: std::net::SocketAddr) -> Result<Vec<Ua>, String> {
    let any = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let mut uas = Vec::new();
    for name in PARTIES {
        let ua = Ua::builder()
            .uri(format!("sip:{name}@{}", directory::DOMAIN))
            .display_name(name)
            .udp(any)
            .registrar(format!("sip:{server}"))
            .authorization_user(name)
            .password(directory::password(name))
            // The script registers, as its first step.
            .register(false)
            .outbound_proxy(format!("sip:{server};lr"))
            .rel100(Rel100::Supported)
            // Loopback carries 64 KiB datagrams: WebRTC offers (~2 KB) stay on UDP instead
            // of moving to TCP (RFC 3261 §18.1.1), which nobody listens on here.
            .udp_max_request(None)
            .user_agent(concat!("sipline-demo/", env!("CARGO_PKG_VERSION")))
            .build()
            .await
            .map_err(|e| {
                format!(
                    "cannot start {name}'s user agent on 127.0.0.1: {e} (the demo needs the \
                     loopback interface up and free UDP ports; check `ip addr show lo`)"
                )
            })?;
        uas.push(ua);
    }
    Ok(uas)
}

/// Plays the script on the running user agents (alice, bob, carol) and checks it.
pub(crate) async fn play(
    cfg: &Config,
    out: &Out,
    server: std::net::SocketAddr,
    uas: &[Ua],
    capture: &Capture,
) -> Outcome {
    let mut run = Run {
        cfg,
        out,
        checks: Vec::new(),
        listens: Vec::new(),
        ab: None,
        ba: None,
        ac: None,
        ca: None,
    };
    let flow = match Directory::of(server, uas) {
        Ok(dir) => {
            capture.set_parties(dir.addrs());
            call(&mut run, uas, &dir).await
        }
        Err(e) => Err(e),
    };
    out.done();
    if let Err(e) = flow {
        out.step(&format!(
            "the script stopped: {e} (run again with --trace to see every SIP message)"
        ));
        run.check(Check::new("script", false, "every step to complete", e));
    }
    for leg in [&mut run.ab, &mut run.ba, &mut run.ac, &mut run.ca]
        .into_iter()
        .flatten()
    {
        leg.drain(Duration::from_millis(100)).await;
    }
    finish(run, capture).await
}

/// Steps 1-8: the call itself.
async fn call(run: &mut Run<'_>, uas: &[Ua], dir: &Directory) -> Result<(), String> {
    let [alice, bob, carol] = uas else {
        return Err("the demo needs three user agents".into());
    };
    let out = run.out;
    let webrtc = run.cfg.media == MediaChoice::WebRtc;
    let media_name = if webrtc {
        "WebRTC media (ICE, DTLS-SRTP, Opus)"
    } else {
        "plain RTP media (G.711)"
    };
    let [a_hz, b_hz, c_hz] = run.cfg.tones;

    // 1. Register.
    out.step("alice, bob, carol: registering");
    out.waiting("registering");
    for c in directory::register(uas).await {
        out.step(&format!("{}: {}", c.name, c.seen));
        run.check(c);
    }

    // 2. alice invites bob; bob answers 183 with early media, reliably (100rel).
    let bob_uri = dir.uri("bob");
    out.step(&format!(
        "alice -> bob: INVITE {bob_uri} with {media_name}, alice plays {a_hz} Hz"
    ));
    let alice_bob = Ear::default();
    let invited = Instant::now();
    let session = alice
        .invite(
            &bob_uri,
            InviteOptions {
                audio_source: run.tone(0),
                audio_sink: alice_bob.sink(),
                media: run.cfg.media,
                ..InviteOptions::default()
            },
        )
        .await
        .map_err(|e| format!("alice cannot call bob: {e}"))?;
    let ab = run.ab.insert(Leg::new("alice", "bob", session, alice_bob));
    out.waiting("bob's phone rings");
    let incoming = match timeout(STEP_TIMEOUT, bob.next_event()).await {
        Ok(Some(UaEvent::Invite(s))) => s,
        Ok(other) => return Err(format!("bob: expected a call, got {other:?}")),
        Err(_) => {
            return Err(format!(
                "bob: no call arrived within {} s",
                STEP_TIMEOUT.as_secs()
            ));
        }
    };
    let bob_ear = Ear::default();
    let ba = run
        .ba
        .insert(Leg::new("bob", "alice", incoming, bob_ear.clone()));
    out.step(&format!(
        "bob: call from alice; answers 183 Session Progress reliably (100rel) with SDP: early \
         media, bob plays {b_hz} Hz"
    ));
    ba.session
        .progress_with_audio(
            ProgressOptions {
                status_code: StatusCode::SESSION_PROGRESS,
                rel100: true,
                media: true,
                ..ProgressOptions::default()
            },
            Box::new(ToneSource::new(RATE, run.cfg.bob_plays, LEVEL_DBFS)),
            bob_ear.sink(),
        )
        .await
        .map_err(|e| format!("bob's 183: {e}"))?;
    let p183 = ab
        .wait("183 Session Progress", |e| {
            matches!(e, SessionEvent::Progress { response }
                if response.status == StatusCode::SESSION_PROGRESS)
        })
        .await?;
    ab.setup = Some(invited.elapsed());
    let SessionEvent::Progress { response } = p183 else {
        return Err("alice: the 183 went missing".into());
    };
    let reliable = response
        .headers
        .get(HeaderName::Require)
        .is_some_and(|r| r.to_ascii_lowercase().contains("100rel"));
    let with_sdp = !response.body.is_empty();
    out.step(&format!(
        "alice: {} ({}, {}); PRACKs it",
        status_text(&response),
        if reliable {
            "Require: 100rel"
        } else {
            "unreliable"
        },
        if with_sdp { "with SDP" } else { "no SDP" },
    ));
    run.check(Check::new(
        "reliable 183 with SDP",
        reliable && with_sdp,
        "a 183 with Require: 100rel and an SDP answer (RFC 3262)",
        format!(
            "183 {} {}",
            if reliable {
                "with Require: 100rel"
            } else {
                "without Require: 100rel"
            },
            if with_sdp { "and SDP" } else { "without SDP" }
        ),
    ));
    let ab = run.ab.as_mut().ok_or("alice's call is gone")?;
    out.waiting(if webrtc {
        "early media: ICE, DTLS, then alice hears bob before he answers"
    } else {
        "early media: alice listens to bob before he answers"
    });
    let flowing = until_sound(&ab.ear, STEP_TIMEOUT).await;
    let m0 = ab.ear.mark();
    record(std::slice::from_ref(&ab.ear)).await;
    let m1 = ab.ear.mark();
    out.step(&format!(
        "alice: early media {} ({:.1} s recorded before the answer)",
        if flowing { "flowing" } else { "silent" },
        (m1 - m0) as f64 / f64::from(RATE)
    ));
    run.listen(
        "early media: alice hears bob before the answer",
        Rec::AliceBob,
        m0,
        m1,
        Some(b_hz),
    );
    // SETTLE_MS is for transitions; early media had time to settle in until_sound.
    if let Some(l) = run.listens.last_mut() {
        l.phase = Phase::between(m0, m1, 0);
    }

    // 3. bob accepts.
    out.step("bob: accepts (200 OK)");
    let accepting = Instant::now();
    let ba = run.ba.as_mut().ok_or("bob's call is gone")?;
    ba.session
        .accept(AcceptOptions {
            audio_source: Box::new(ToneSource::new(RATE, run.cfg.bob_plays, LEVEL_DBFS)),
            audio_sink: bob_ear.sink(),
            ..AcceptOptions::default()
        })
        .await
        .map_err(|e| format!("bob cannot accept: {e}"))?;
    let ab = run.ab.as_mut().ok_or("alice's call is gone")?;
    out.waiting("alice waits for the 200 OK");
    let a_ok = ab
        .wait("answer (200 OK)", |e| {
            matches!(e, SessionEvent::Accepted { .. })
        })
        .await;
    let answered_in = accepting.elapsed();
    let ba = run.ba.as_mut().ok_or("bob's call is gone")?;
    let b_ok = ba
        .wait("ACK", |e| matches!(e, SessionEvent::Accepted { .. }))
        .await;
    let answered = a_ok.is_ok() && b_ok.is_ok();
    out.step(&format!(
        "alice: 200 OK {:.0} ms after bob accepted; ACK; the call is up",
        answered_in.as_secs_f64() * 1000.0
    ));
    run.check(Check::new(
        "answer",
        answered,
        "Accepted on both sides (200 OK, ACK)",
        match (&a_ok, &b_ok) {
            (Ok(_), Ok(_)) => "Accepted on both sides".to_owned(),
            (Err(e), _) | (_, Err(e)) => e.clone(),
        },
    ));
    a_ok?;
    b_ok?;
    let (profile, codec) = run
        .ab
        .as_ref()
        .map(|l| negotiated(&l.session))
        .unwrap_or_default();
    let want = if webrtc {
        "UDP/TLS/RTP/SAVPF"
    } else {
        "RTP/AVP"
    };
    out.step(&format!("media: {profile}, {codec}"));
    run.check(Check::new(
        "media negotiated",
        profile == want,
        format!("{want} (asked for {media_name})"),
        format!("{profile}, {codec}"),
    ));
    let (a_m, b_m) = (run.ab.as_ref().map_or(0, |l| l.ear.mark()), bob_ear.mark());
    out.waiting("alice and bob talk");
    record(&[
        run.ab.as_ref().map(|l| l.ear.clone()).unwrap_or_default(),
        bob_ear.clone(),
    ])
    .await;
    let (a_m2, b_m2) = (run.ab.as_ref().map_or(0, |l| l.ear.mark()), bob_ear.mark());
    out.step(&format!(
        "alice and bob talk for {:.1} s",
        TALK.as_secs_f64()
    ));
    run.listen(
        "talk: alice hears bob",
        Rec::AliceBob,
        a_m,
        a_m2,
        Some(b_hz),
    );
    run.listen("talk: bob hears alice", Rec::Bob, b_m, b_m2, Some(a_hz));

    // 4. DTMF both ways.
    out.step("alice -> bob: DTMF 123 as RFC 4733 telephone-events in the RTP stream");
    let ab = run.ab.as_mut().ok_or("alice's call is gone")?;
    let rtp_dtmf = DtmfOptions {
        transport: DtmfTransport::Rtp,
        inter_tone_gap: Duration::from_millis(150),
        ..DtmfOptions::default()
    };
    ab.session
        .dtmf("123", rtp_dtmf.clone())
        .await
        .map_err(|e| format!("alice's DTMF: {e}"))?;
    let ba = run.ba.as_mut().ok_or("bob's call is gone")?;
    let got = ba.dtmf(3, Duration::from_secs(3)).await;
    out.step(&format!("bob: received DTMF {}", dtmf_text(&got)));
    let ok = got == [('1', false), ('2', false), ('3', false)];
    run.check(Check::new(
        "DTMF alice -> bob (RFC 4733)",
        ok,
        "1, 2, 3 by RFC 4733",
        dtmf_text(&got),
    ));
    out.step("bob -> alice: DTMF #9 in SIP INFO requests");
    let ba = run.ba.as_mut().ok_or("bob's call is gone")?;
    ba.session
        .dtmf(
            "#9",
            DtmfOptions {
                transport: DtmfTransport::Info,
                inter_tone_gap: Duration::from_millis(150),
                ..DtmfOptions::default()
            },
        )
        .await
        .map_err(|e| format!("bob's DTMF: {e}"))?;
    let ab = run.ab.as_mut().ok_or("alice's call is gone")?;
    let got = ab.dtmf(2, Duration::from_secs(3)).await;
    out.step(&format!("alice: received DTMF {}", dtmf_text(&got)));
    run.check(Check::new(
        "DTMF bob -> alice (INFO)",
        got == [('#', true), ('9', true)],
        "#, 9 by INFO",
        dtmf_text(&got),
    ));

    // 5. bob mutes, then unmutes.
    let audio_only = MuteOptions {
        audio: true,
        video: false,
    };
    out.step("bob: mutes (alice should hear silence)");
    let ba = run.ba.as_mut().ok_or("bob's call is gone")?;
    ba.session
        .mute(audio_only)
        .await
        .map_err(|e| format!("bob cannot mute: {e}"))?;
    let muted = ba
        .wait("Muted", |e| {
            matches!(e, SessionEvent::Muted { audio: true, .. })
        })
        .await;
    out.waiting("bob is muted");
    if let Some(l) = run.ab.as_ref() {
        until(&l.ear, true, STEP_TIMEOUT).await;
    }
    let q0 = run.ab.as_ref().map_or(0, |l| l.ear.mark());
    record(&[run.ab.as_ref().map(|l| l.ear.clone()).unwrap_or_default()]).await;
    let q1 = run.ab.as_ref().map_or(0, |l| l.ear.mark());
    run.listen("mute: alice hears silence", Rec::AliceBob, q0, q1, None);
    out.step(&format!("bob: unmutes (alice should hear {b_hz} Hz again)"));
    let ba = run.ba.as_mut().ok_or("bob's call is gone")?;
    ba.session
        .unmute(audio_only)
        .await
        .map_err(|e| format!("bob cannot unmute: {e}"))?;
    let unmuted = ba
        .wait("Unmuted", |e| {
            matches!(e, SessionEvent::Unmuted { audio: true, .. })
        })
        .await;
    run.check(Check::new(
        "mute/unmute events",
        muted.is_ok() && unmuted.is_ok(),
        "Muted then Unmuted on bob's session",
        match (&muted, &unmuted) {
            (Ok(_), Ok(_)) => "Muted, Unmuted".to_owned(),
            (Err(e), _) | (_, Err(e)) => e.clone(),
        },
    ));
    out.waiting("bob talks again");
    if let Some(l) = run.ab.as_ref() {
        until_sound(&l.ear, STEP_TIMEOUT).await;
    }
    let u0 = run.ab.as_ref().map_or(0, |l| l.ear.mark());
    record(&[run.ab.as_ref().map(|l| l.ear.clone()).unwrap_or_default()]).await;
    let u1 = run.ab.as_ref().map_or(0, |l| l.ear.mark());
    run.listen(
        "unmute: alice hears bob again",
        Rec::AliceBob,
        u0,
        u1,
        Some(b_hz),
    );

    // 6. bob transfers alice to carol.
    let carol_uri = dir.uri("carol");
    out.step(&format!(
        "bob -> alice: REFER to {carol_uri} (blind transfer)"
    ));
    let ba = run.ba.as_mut().ok_or("bob's call is gone")?;
    ba.session
        .refer(&carol_uri, ReferOptions::default())
        .await
        .map_err(|e| format!("bob's REFER: {e}"))?;
    let ab = run.ab.as_mut().ok_or("alice's call is gone")?;
    let refer = match ab
        .wait("REFER", |e| matches!(e, SessionEvent::Refer { .. }))
        .await?
    {
        SessionEvent::Refer { request } => request,
        _ => return Err("alice: the REFER went missing".into()),
    };
    out.step("alice: 202 Accepted; follows the REFER: INVITE to carol");
    let alice_carol = Ear::default();
    let following = Instant::now();
    let (followed, incoming) = tokio::join!(
        ab.session.follow_refer(
            &refer,
            InviteOptions {
                audio_source: Box::new(ToneSource::new(RATE, a_hz, LEVEL_DBFS)),
                audio_sink: alice_carol.sink(),
                media: run.cfg.media,
                ..InviteOptions::default()
            },
        ),
        timeout(STEP_TIMEOUT, carol.next_event())
    );
    let followed = followed.map_err(|e| format!("alice cannot follow the REFER: {e}"))?;
    let incoming = match incoming {
        Ok(Some(UaEvent::Invite(s))) => s,
        Ok(other) => return Err(format!("carol: expected a call, got {other:?}")),
        Err(_) => {
            return Err(format!(
                "carol: no call arrived within {} s",
                STEP_TIMEOUT.as_secs()
            ));
        }
    };
    let carol_ear = Ear::default();
    run.ac = Some(Leg::new("alice", "carol", followed, alice_carol));
    let ca = run
        .ca
        .insert(Leg::new("carol", "alice", incoming, carol_ear.clone()));
    out.step(&format!(
        "carol: call from alice; rings (180), accepts, plays {c_hz} Hz"
    ));
    ca.session
        .progress(ProgressOptions::default())
        .await
        .map_err(|e| format!("carol's 180: {e}"))?;
    ca.session
        .accept(AcceptOptions {
            audio_source: Box::new(ToneSource::new(RATE, c_hz, LEVEL_DBFS)),
            audio_sink: carol_ear.sink(),
            ..AcceptOptions::default()
        })
        .await
        .map_err(|e| format!("carol cannot accept: {e}"))?;
    let ac = run.ac.as_mut().ok_or("alice's call with carol is gone")?;
    out.waiting("alice waits for carol's 200 OK");
    ac.wait("carol's answer", |e| {
        matches!(e, SessionEvent::Accepted { .. })
    })
    .await?;
    ac.setup = Some(following.elapsed());
    let ca = run.ca.as_mut().ok_or("carol's call is gone")?;
    ca.wait("ACK", |e| matches!(e, SessionEvent::Accepted { .. }))
        .await?;
    out.step("alice: 200 OK from carol; ACK");
    let ba = run.ba.as_mut().ok_or("bob's call is gone")?;
    out.waiting("bob waits for the transfer's NOTIFYs");
    let mut statuses = Vec::new();
    let mut last = Ok(());
    while !statuses.last().is_some_and(|s: &StatusCode| s.is_final()) {
        match ba
            .wait("NOTIFY", |e| {
                matches!(e, SessionEvent::ReferProgress { .. })
            })
            .await
        {
            Ok(SessionEvent::ReferProgress { status, .. }) => {
                out.step(&format!(
                    "bob: NOTIFY (message/sipfrag) {} {}",
                    status,
                    status.canonical_reason()
                ));
                statuses.push(status);
            }
            Ok(_) => {}
            Err(e) => {
                last = Err(e);
                break;
            }
        }
    }
    let codes: Vec<u16> = statuses.iter().map(|s| s.as_u16()).collect();
    run.check(Check::new(
        "transfer NOTIFYs (sipfrag)",
        codes.first() == Some(&100) && codes.last() == Some(&200),
        "100 first, 200 last",
        format!("{codes:?}"),
    ));
    last?;
    out.step("bob: the transfer worked; hangs up (BYE)");
    let ab = run.ab.as_mut().ok_or("alice's call is gone")?;
    ab.take_stats().await;
    let ba = run.ba.as_mut().ok_or("bob's call is gone")?;
    ba.take_stats().await;
    ba.session
        .bye(ByeOptions::default())
        .await
        .map_err(|e| format!("bob's BYE: {e}"))?;
    let ab = run.ab.as_mut().ok_or("alice's call is gone")?;
    let bye = ab
        .wait("BYE", |e| matches!(e, SessionEvent::Bye { .. }))
        .await;
    let ended = ab
        .wait("the end of the call", |e| {
            matches!(e, SessionEvent::Terminated { .. })
        })
        .await;
    run.check(Check::new(
        "bob leaves after the transfer",
        bye.is_ok() && ended.is_ok(),
        "alice's call with bob ends with bob's BYE",
        match (&bye, &ended) {
            (Ok(_), Ok(_)) => "Bye, Terminated".to_owned(),
            (Err(e), _) | (_, Err(e)) => e.clone(),
        },
    ));

    // 7. alice and carol talk, DTMF.
    out.waiting(if webrtc {
        "alice and carol: ICE, DTLS, then media"
    } else {
        "alice and carol: media starts"
    });
    if let Some(l) = run.ac.as_ref() {
        until_sound(&l.ear, STEP_TIMEOUT).await;
    }
    until_sound(&carol_ear, STEP_TIMEOUT).await;
    let (a_m, c_m) = (
        run.ac.as_ref().map_or(0, |l| l.ear.mark()),
        carol_ear.mark(),
    );
    out.waiting("alice and carol talk");
    record(&[
        run.ac.as_ref().map(|l| l.ear.clone()).unwrap_or_default(),
        carol_ear.clone(),
    ])
    .await;
    let (a_m2, c_m2) = (
        run.ac.as_ref().map_or(0, |l| l.ear.mark()),
        carol_ear.mark(),
    );
    out.step(&format!(
        "alice and carol talk for {:.1} s",
        TALK.as_secs_f64()
    ));
    run.listen(
        "talk: alice hears carol",
        Rec::AliceCarol,
        a_m,
        a_m2,
        Some(c_hz),
    );
    run.listen("talk: carol hears alice", Rec::Carol, c_m, c_m2, Some(a_hz));
    out.step("alice -> carol: DTMF 0 as an RFC 4733 telephone-event");
    let ac = run.ac.as_mut().ok_or("alice's call with carol is gone")?;
    ac.session
        .dtmf("0", rtp_dtmf)
        .await
        .map_err(|e| format!("alice's DTMF to carol: {e}"))?;
    let ca = run.ca.as_mut().ok_or("carol's call is gone")?;
    let got = ca.dtmf(1, Duration::from_secs(3)).await;
    out.step(&format!("carol: received DTMF {}", dtmf_text(&got)));
    run.check(Check::new(
        "DTMF alice -> carol (RFC 4733)",
        got == [('0', false)],
        "0 by RFC 4733",
        dtmf_text(&got),
    ));

    // 8. alice hangs up.
    out.step("alice -> carol: BYE");
    let ac = run.ac.as_mut().ok_or("alice's call with carol is gone")?;
    ac.take_stats().await;
    let ca = run.ca.as_mut().ok_or("carol's call is gone")?;
    ca.take_stats().await;
    let ac = run.ac.as_mut().ok_or("alice's call with carol is gone")?;
    ac.session
        .bye(ByeOptions::default())
        .await
        .map_err(|e| format!("alice's BYE: {e}"))?;
    let ca = run.ca.as_mut().ok_or("carol's call is gone")?;
    let bye = ca
        .wait("BYE", |e| matches!(e, SessionEvent::Bye { .. }))
        .await;
    let c_end = ca
        .wait("the end of the call", |e| {
            matches!(e, SessionEvent::Terminated { .. })
        })
        .await;
    let ac = run.ac.as_mut().ok_or("alice's call with carol is gone")?;
    let a_end = ac
        .wait("the end of the call", |e| {
            matches!(e, SessionEvent::Terminated { .. })
        })
        .await;
    run.check(Check::new(
        "hang-up",
        bye.is_ok() && c_end.is_ok() && a_end.is_ok(),
        "carol gets the BYE; both sides end",
        match (&bye, &c_end, &a_end) {
            (Ok(_), Ok(_), Ok(_)) => "Bye, Terminated on both sides".to_owned(),
            (Err(e), _, _) | (_, Err(e), _) | (_, _, Err(e)) => e.clone(),
        },
    ));
    out.step("the call is over");
    Ok(())
}

/// Step 9: writes the recordings, reads them back and checks what each party heard; the
/// 100rel exchange on the wire; the RTP statistics. Builds the table.
async fn finish(mut run: Run<'_>, capture: &Capture) -> Outcome {
    let out = run.out;
    let ear_of = |l: &Option<Leg>| l.as_ref().map(|l| l.ear.samples()).unwrap_or_default();
    let alice_bob = ear_of(&run.ab);
    let alice_carol = ear_of(&run.ac);
    let offset = alice_bob.len();
    let mut alice = alice_bob;
    alice.extend_from_slice(&alice_carol);
    let files = [
        ("alice", alice),
        ("bob", ear_of(&run.ba)),
        ("carol", ear_of(&run.ca)),
    ];
    let mut wavs = Vec::new();
    let mut heard_back: Vec<Option<Vec<i16>>> = Vec::new();
    for (name, samples) in &files {
        let path = run.cfg.wav_dir.join(format!("{name}.wav"));
        let back = ear::write_wav(&path, samples).and_then(|()| ear::read_wav(&path));
        match back {
            Ok(s) => heard_back.push(Some(s)),
            Err(e) => {
                run.check(Check::new(
                    format!("recording of {name}"),
                    false,
                    "a WAV file written and read back",
                    e,
                ));
                heard_back.push(None);
            }
        }
        wavs.push(path);
    }
    out.step(&format!(
        "checking the recordings ({})",
        files
            .iter()
            .map(|(n, s)| format!("{n}.wav {:.1} s", s.len() as f64 / f64::from(RATE)))
            .collect::<Vec<_>>()
            .join(", ")
    ));
    let listens = std::mem::take(&mut run.listens);
    let mut heard_in_talk: Vec<(Rec, Heard)> = Vec::new();
    for l in listens {
        let (index, phase) = match l.rec {
            Rec::AliceBob => (0, l.phase),
            Rec::AliceCarol => (0, l.phase.shifted(offset)),
            Rec::Bob => (1, l.phase),
            Rec::Carol => (2, l.phase),
        };
        let Some(samples) = heard_back.get(index).and_then(Option::as_ref) else {
            continue;
        };
        let heard = ear::listen(samples, phase);
        if l.check.starts_with("talk:") {
            heard_in_talk.push((l.rec, heard));
        }
        let (ok, expected) = match l.expect {
            Some(hz) => (heard.is_tone(hz), format!("{hz:.0} Hz ± 5 Hz")),
            None => (heard.is_quiet(), "silence".to_owned()),
        };
        run.check(Check::new(l.check, ok, expected, heard.to_string()));
    }

    // 100rel on the wire: the 183 was PRACKed and the PRACK answered (RFC 3262 §4).
    let wire = capture.messages();
    let prack = wire
        .iter()
        .any(|m| m.method == "PRACK" && m.status.is_none() && m.from == 1 && m.to == 2);
    let prack_ok = wire
        .iter()
        .any(|m| m.method == "PRACK" && m.status == Some(200) && m.from == 1 && m.to == 0);
    if run.ab.is_some() {
        run.check(Check::new(
            "PRACK",
            prack && prack_ok,
            "alice PRACKs the 183, bob answers 200",
            format!(
                "PRACK {}, 200 {}",
                if prack { "sent" } else { "missing" },
                if prack_ok { "received" } else { "missing" }
            ),
        ));
    }

    // RTP statistics (RFC 3550 §6.4.1): media both ways, no loss on loopback.
    let mut rows = Vec::new();
    for (leg, rec) in [
        (&run.ab, Rec::AliceBob),
        (&run.ba, Rec::Bob),
        (&run.ac, Rec::AliceCarol),
        (&run.ca, Rec::Carol),
    ] {
        let Some(leg) = leg else { continue };
        let heard = heard_in_talk
            .iter()
            .find(|(r, _)| *r == rec)
            .map_or(Heard::Nothing, |(_, h)| *h);
        rows.push(leg.row(heard));
    }
    for r in &rows {
        let ok = r.sent >= 50 && r.received >= 50 && r.lost <= (r.received as i64 / 100).max(1);
        run.check(Check::new(
            format!("RTP {}", r.party),
            ok,
            "at least 50 packets each way, loss under 1%",
            format!("{} sent, {} received, {} lost", r.sent, r.received, r.lost),
        ));
    }
    Outcome {
        checks: run.checks,
        rows,
        wavs,
    }
}
