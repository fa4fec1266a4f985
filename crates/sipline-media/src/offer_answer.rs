//! The offer/answer model for one audio stream over RTP/AVP (RFC 3264), as pure functions
//! over [`SessionDescription`]s. [`crate::RtpMedia`] keeps the state (RFC 3264 §4, §8).

use std::net::{IpAddr, SocketAddr};

use crate::error::MediaError;
use crate::sdp::{
    Attribute, Connection, Direction, MediaDescription, Origin, RtpMap, SessionDescription,
};

/// The profile of plain RTP for audio and video (RFC 3551).
pub const RTP_AVP: &str = "RTP/AVP";

/// An audio codec this crate encodes and decodes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Codec {
    /// G.711 µ-law, static payload type 0 (RFC 3551 §6 table 4).
    Pcmu,
    /// G.711 A-law, static payload type 8 (RFC 3551 §6 table 4).
    Pcma,
}

impl Codec {
    /// The static payload type (RFC 3551 §6).
    pub fn payload_type(self) -> u8 {
        match self {
            Codec::Pcmu => 0,
            Codec::Pcma => 8,
        }
    }

    /// The `rtpmap` encoding name.
    pub fn encoding_name(self) -> &'static str {
        match self {
            Codec::Pcmu => "PCMU",
            Codec::Pcma => "PCMA",
        }
    }

    /// The RTP clock rate and the PCM sample rate, in Hz.
    pub fn clock_rate(self) -> u32 {
        8000
    }

    /// The codec an m-line's payload type stands for: its `rtpmap`, else the static
    /// assignment of RFC 3551 §6 when there is no `rtpmap`.
    pub fn from_media(m: &MediaDescription, pt: u8) -> Option<Self> {
        match m.rtpmap(pt) {
            Some(map) => Self::from_rtpmap(&map),
            None => match pt {
                0 => Some(Codec::Pcmu),
                8 => Some(Codec::Pcma),
                _ => None,
            },
        }
    }

    fn from_rtpmap(map: &RtpMap) -> Option<Self> {
        let mono = map.params.as_deref().is_none_or(|p| p.trim() == "1");
        if map.clock_rate != 8000 || !mono {
            return None;
        }
        [Codec::Pcmu, Codec::Pcma]
            .into_iter()
            .find(|c| map.encoding.eq_ignore_ascii_case(c.encoding_name()))
    }
}

/// What we offer and accept for audio.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AudioOptions {
    /// Codecs in order of preference.
    pub codecs: Vec<Codec>,
    /// The payload type we offer for `telephone-event/8000` (RFC 4733 §7.1.1), `None` to offer
    /// no DTMF events. In an answer we keep the offerer's payload type.
    pub telephone_event: Option<u8>,
    /// Our `a=ptime` in milliseconds (RFC 8866 §6.4).
    pub ptime: u32,
    /// Offer `a=rtcp-mux`, and accept it in an offer (RFC 5761 §5.1.1): RTCP then shares
    /// the RTP port. On by default.
    pub rtcp_mux: bool,
}

impl Default for AudioOptions {
    /// PCMU, PCMA, telephone-event on payload type 101, 20 ms, rtcp-mux offered.
    fn default() -> Self {
        Self {
            codecs: vec![Codec::Pcmu, Codec::Pcma],
            telephone_event: Some(101),
            ptime: 20,
            rtcp_mux: true,
        }
    }
}

/// The outcome of one offer/answer exchange for the audio stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiated {
    /// The index of the audio m-line.
    pub mline: usize,
    /// The codec we send (and expect).
    pub codec: Codec,
    /// Its payload type.
    pub payload_type: u8,
    /// The payload type of telephone-event, if both sides have it.
    pub telephone_event: Option<u8>,
    /// The packet time we send at: the peer's `a=ptime` if it is 10..=60 ms in 10 ms steps,
    /// else ours.
    pub ptime: u32,
    /// Our direction for the stream (RFC 3264 §6.1).
    pub direction: Direction,
    /// Where to send RTP; `None` if the peer gave no address (port 0 or `0.0.0.0`, the RFC 2543
    /// hold of RFC 3264 §8.4).
    pub remote_rtp: Option<SocketAddr>,
    /// Where the peer wants RTCP: `a=rtcp` (RFC 3605) or the RTP port + 1 (RFC 3550 §11).
    pub remote_rtcp: Option<SocketAddr>,
    /// Whether RTCP shares the RTP port in both directions (RFC 5761 §5.1.1: offered and
    /// answered with `a=rtcp-mux`).
    pub rtcp_mux: bool,
}

/// The `a=rtcp-mux` attribute (RFC 5761 §5.1.1).
pub const RTCP_MUX: &str = "rtcp-mux";

/// Whether a `<proto>` is a secure or feedback profile this crate does not implement: SAVP,
/// SAVPF, AVPF and anything over (D)TLS (RFC 3711, RFC 4585, RFC 5764).
pub fn is_unsupported_profile(proto: &str) -> bool {
    let p = proto.to_ascii_uppercase();
    p.contains("SAVP") || p.contains("AVPF") || p.contains("TLS")
}

/// Checks that no active m-line of `sdp` uses a secure/WebRTC profile.
///
/// # Errors
/// [`MediaError::UnsupportedProfile`] for the first such m-line.
pub fn check_profiles(sdp: &SessionDescription) -> Result<(), MediaError> {
    match sdp
        .media
        .iter()
        .enumerate()
        .find(|(_, m)| m.port != 0 && is_unsupported_profile(&m.proto))
    {
        Some((mline, m)) => Err(MediaError::UnsupportedProfile {
            profile: m.proto.clone(),
            mline,
        }),
        None => Ok(()),
    }
}

/// Whether `sdp` looks like a WebRTC offer (RFC 8829): an active m-line over `UDP/TLS/RTP/SAVPF`
/// or another secure profile. The caller uses it to choose the media implementation.
pub fn is_webrtc(sdp: &SessionDescription) -> bool {
    check_profiles(sdp).is_err()
}

/// The audio m-line of our SDP for `opts` at `port`.
pub fn audio_media(
    port: u16,
    opts: &AudioOptions,
    direction: Direction,
    codecs: &[(Codec, u8)],
    te: Option<u8>,
    te_fmtp: &str,
) -> MediaDescription {
    let mut formats: Vec<String> = codecs.iter().map(|(_, pt)| pt.to_string()).collect();
    let mut attributes: Vec<Attribute> = codecs
        .iter()
        .map(|(c, pt)| {
            Attribute::value(
                "rtpmap",
                format!("{pt} {}/{}", c.encoding_name(), c.clock_rate()),
            )
        })
        .collect();
    if let Some(pt) = te {
        formats.push(pt.to_string());
        attributes.push(Attribute::value(
            "rtpmap",
            format!("{pt} telephone-event/8000"),
        ));
        attributes.push(Attribute::value("fmtp", format!("{pt} {te_fmtp}")));
    }
    attributes.push(Attribute::value("ptime", opts.ptime.to_string()));
    attributes.push(Attribute::flag(direction.as_str()));
    MediaDescription {
        media: "audio".into(),
        port,
        port_count: None,
        proto: RTP_AVP.into(),
        formats,
        connection: None,
        attributes,
        extra: Vec::new(),
    }
}

/// A session description with one m-line list and `c=` for `ip`.
pub fn session(origin: Origin, ip: IpAddr, media: Vec<MediaDescription>) -> SessionDescription {
    SessionDescription {
        origin,
        session_name: "-".into(),
        connection: Some(Connection::from_ip(ip)),
        timing: (0, 0),
        attributes: Vec::new(),
        extra: Vec::new(),
        media,
    }
}

/// Builds an offer with one audio m-line (RFC 3264 §5): every codec of `opts` on its static
/// payload type, then telephone-event `0-16` on `opts.telephone_event`, `a=ptime`, direction.
pub fn build_offer(
    origin: Origin,
    local: SocketAddr,
    opts: &AudioOptions,
    direction: Direction,
) -> SessionDescription {
    let codecs: Vec<(Codec, u8)> = opts.codecs.iter().map(|&c| (c, c.payload_type())).collect();
    let m = audio_media(
        local.port(),
        opts,
        direction,
        &codecs,
        opts.telephone_event,
        "0-16",
    );
    let mut m = m;
    if opts.rtcp_mux {
        m.attributes.push(Attribute::flag(RTCP_MUX));
    }
    session(origin, local.ip(), vec![m])
}

/// A rejected copy of an m-line: port 0, same media, proto and formats (RFC 3264 §6).
pub fn rejected(m: &MediaDescription) -> MediaDescription {
    MediaDescription {
        media: m.media.clone(),
        port: 0,
        port_count: None,
        proto: m.proto.clone(),
        formats: m.formats.clone(),
        connection: None,
        attributes: Vec::new(),
        extra: Vec::new(),
    }
}

fn telephone_event(m: &MediaDescription) -> Option<u8> {
    m.rtpmaps()
        .find(|r| r.encoding.eq_ignore_ascii_case("telephone-event") && r.clock_rate == 8000)
        .map(|r| r.payload_type)
}

fn remote_addrs(
    sdp: &SessionDescription,
    mline: usize,
) -> (Option<SocketAddr>, Option<SocketAddr>) {
    let Some(m) = sdp.media.get(mline) else {
        return (None, None);
    };
    let ip = sdp
        .connection_for(mline)
        .and_then(Connection::ip)
        .filter(|ip| !ip.is_unspecified());
    let Some(ip) = ip.filter(|_| m.port != 0) else {
        return (None, None);
    };
    let rtcp = match m.rtcp() {
        Some((port, conn)) => Some(SocketAddr::new(
            conn.and_then(|c| c.ip()).unwrap_or(ip),
            port,
        )),
        None => m.port.checked_add(1).map(|p| SocketAddr::new(ip, p)),
    };
    (Some(SocketAddr::new(ip, m.port)), rtcp)
}

fn send_ptime(m: &MediaDescription, ours: u32) -> u32 {
    m.ptime()
        .filter(|p| (10..=60).contains(p) && p % 10 == 0)
        .unwrap_or(ours)
}

/// Answers `offer` (RFC 3264 §6): accepts the first `m=audio` over RTP/AVP that has a codec of
/// `opts` (the offer's first such codec wins, §6.1), keeps the offerer's telephone-event
/// payload type and events, answers the direction per §6.1 limited by `want` (our own
/// preference: `SendOnly` while we hold), and rejects every other m-line with port 0, keeping
/// the m-line count and order.
///
/// # Errors
/// [`MediaError::UnsupportedProfile`] for a secure/WebRTC offer, [`MediaError::NoCommonCodec`]
/// when the audio line has no codec we support, [`MediaError::NoAudio`] when there is no
/// audio line over RTP/AVP.
pub fn answer_offer(
    offer: &SessionDescription,
    origin: Origin,
    local: SocketAddr,
    opts: &AudioOptions,
    want: Direction,
) -> Result<(SessionDescription, Negotiated), MediaError> {
    check_profiles(offer)?;
    let mut negotiated = None;
    let mut no_codec = None;
    let mut media = Vec::with_capacity(offer.media.len());
    for (i, m) in offer.media.iter().enumerate() {
        let candidate = negotiated.is_none()
            && m.port != 0
            && m.media == "audio"
            && m.proto.eq_ignore_ascii_case(RTP_AVP);
        let chosen = candidate
            .then(|| {
                m.payload_types().find_map(|pt| {
                    Codec::from_media(m, pt)
                        .filter(|c| opts.codecs.contains(c))
                        .map(|c| (c, pt))
                })
            })
            .flatten();
        let Some((codec, pt)) = chosen else {
            if candidate {
                no_codec = Some(MediaError::NoCommonCodec {
                    mline: i,
                    offered: m.formats.join(" "),
                });
            }
            media.push(rejected(m));
            continue;
        };
        let te = telephone_event(m).filter(|_| opts.telephone_event.is_some());
        let te_fmtp = te.and_then(|pt| m.fmtp(pt)).unwrap_or("0-16").to_owned();
        let direction = want.intersect(offer.direction(i).reversed());
        let mut answer_m = audio_media(local.port(), opts, direction, &[(codec, pt)], te, &te_fmtp);
        let rtcp_mux = opts.rtcp_mux && m.attribute(RTCP_MUX).is_some();
        if rtcp_mux {
            answer_m.attributes.push(Attribute::flag(RTCP_MUX));
        }
        media.push(answer_m);
        let (remote_rtp, remote_rtcp) = remote_addrs(offer, i);
        negotiated = Some(Negotiated {
            mline: i,
            codec,
            payload_type: pt,
            telephone_event: te,
            ptime: send_ptime(m, opts.ptime),
            direction,
            remote_rtp,
            remote_rtcp,
            rtcp_mux,
        });
    }
    match negotiated {
        Some(n) => Ok((session(origin, local.ip(), media), n)),
        None => Err(no_codec.unwrap_or(MediaError::NoAudio)),
    }
}

/// Checks that `answer` answers our `offer` (RFC 3264 §6, §7) and returns what was agreed for
/// the audio line at `mline` of the offer.
///
/// # Errors
/// [`MediaError::AnswerMismatch`] when the m-line count, a media type or the formats do not fit
/// the offer, [`MediaError::Rejected`] when the audio line has port 0,
/// [`MediaError::UnsupportedProfile`] for a secure profile.
pub fn accept_answer(
    offer: &SessionDescription,
    answer: &SessionDescription,
    mline: usize,
    opts: &AudioOptions,
) -> Result<Negotiated, MediaError> {
    if answer.media.len() != offer.media.len() {
        return Err(MediaError::AnswerMismatch(format!(
            "{} m-lines in the answer, {} in the offer",
            answer.media.len(),
            offer.media.len()
        )));
    }
    for (i, (o, a)) in offer.media.iter().zip(&answer.media).enumerate() {
        if !o.media.eq_ignore_ascii_case(&a.media) {
            return Err(MediaError::AnswerMismatch(format!(
                "m-line {i} is {} in the answer, {} in the offer",
                a.media, o.media
            )));
        }
    }
    check_profiles(answer)?;
    let (Some(o), Some(a)) = (offer.media.get(mline), answer.media.get(mline)) else {
        return Err(MediaError::NoAudio);
    };
    if a.port == 0 {
        return Err(MediaError::Rejected);
    }
    if !a.proto.eq_ignore_ascii_case(&o.proto) {
        return Err(MediaError::AnswerMismatch(format!(
            "profile {} answers {}",
            a.proto, o.proto
        )));
    }
    let offered: Vec<u8> = o.payload_types().collect();
    let (codec, pt) = a
        .payload_types()
        .filter(|pt| offered.contains(pt))
        .find_map(|pt| {
            Codec::from_media(a, pt)
                .or_else(|| Codec::from_media(o, pt))
                .filter(|c| opts.codecs.contains(c))
                .map(|c| (c, pt))
        })
        .ok_or_else(|| {
            MediaError::AnswerMismatch(format!(
                "no offered codec among answer formats {}",
                a.formats.join(" ")
            ))
        })?;
    let te = telephone_event(a).filter(|_| telephone_event(o).is_some());
    let direction = offer
        .direction(mline)
        .intersect(answer.direction(mline).reversed());
    let (remote_rtp, remote_rtcp) = remote_addrs(answer, mline);
    // RFC 5761 §5.1.1: muxed only if we offered it and the answer accepts it.
    let rtcp_mux = o.attribute(RTCP_MUX).is_some() && a.attribute(RTCP_MUX).is_some();
    Ok(Negotiated {
        mline,
        codec,
        payload_type: pt,
        telephone_event: te,
        ptime: send_ptime(a, opts.ptime),
        direction,
        remote_rtp,
        remote_rtcp,
        rtcp_mux,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sdp::AddrType;

    fn origin() -> Origin {
        Origin {
            username: "-".into(),
            session_id: "1".into(),
            session_version: "1".into(),
            addr_type: AddrType::Ip4,
            address: "127.0.0.1".into(),
        }
    }

    fn addr(port: u16) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], port))
    }

    fn parse(s: &str) -> SessionDescription {
        SessionDescription::parse(s).unwrap()
    }

    #[test]
    fn offer_has_pcmu_pcma_and_telephone_event() {
        let offer = build_offer(
            origin(),
            addr(4000),
            &AudioOptions::default(),
            Direction::SendRecv,
        );
        let text = offer.to_string();
        assert!(text.contains("c=IN IP4 127.0.0.1\r\n"), "{text}");
        assert!(text.contains("m=audio 4000 RTP/AVP 0 8 101\r\n"), "{text}");
        assert!(text.contains("a=rtpmap:0 PCMU/8000\r\na=rtpmap:8 PCMA/8000\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=ptime:20\r\na=sendrecv\r\n"), "{text}");
        assert_eq!(parse(&text), offer);
    }

    #[test]
    fn answer_picks_the_offerers_first_supported_codec() {
        let offer = parse(
            "v=0\r\no=- 1 1 IN IP4 10.0.0.1\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 9 8 0 96\r\na=rtpmap:96 telephone-event/8000\r\na=fmtp:96 0-15\r\na=ptime:30\r\n",
        );
        let (answer, n) = answer_offer(
            &offer,
            origin(),
            addr(4000),
            &AudioOptions::default(),
            Direction::SendRecv,
        )
        .unwrap();
        assert_eq!(
            (n.codec, n.payload_type, n.telephone_event, n.ptime),
            (Codec::Pcma, 8, Some(96), 30)
        );
        assert_eq!(n.remote_rtp, Some("10.0.0.1:5000".parse().unwrap()));
        assert_eq!(n.remote_rtcp, Some("10.0.0.1:5001".parse().unwrap()));
        let text = answer.to_string();
        assert!(text.contains("m=audio 4000 RTP/AVP 8 96\r\n"), "{text}");
        assert!(text.contains("a=fmtp:96 0-15\r\n"), "{text}");
        // And the offerer accepts it.
        let back = accept_answer(&offer, &answer, 0, &AudioOptions::default()).unwrap();
        assert_eq!((back.codec, back.telephone_event), (Codec::Pcma, Some(96)));
    }

    #[test]
    fn answer_directions_follow_rfc3264_6_1() {
        for (offered, want, expect) in [
            ("sendrecv", Direction::SendRecv, Direction::SendRecv),
            ("sendonly", Direction::SendRecv, Direction::RecvOnly),
            ("recvonly", Direction::SendRecv, Direction::SendOnly),
            ("inactive", Direction::SendRecv, Direction::Inactive),
            ("sendrecv", Direction::SendOnly, Direction::SendOnly),
            ("sendonly", Direction::SendOnly, Direction::Inactive),
        ] {
            let offer = parse(&format!(
                "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0\r\na={offered}\r\n"
            ));
            let (answer, n) =
                answer_offer(&offer, origin(), addr(4000), &AudioOptions::default(), want).unwrap();
            assert_eq!(n.direction, expect, "{offered}");
            assert_eq!(answer.direction(0), expect);
        }
    }

    #[test]
    fn rejects_other_m_lines_with_port_zero_keeping_order() {
        let offer = parse(
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=video 6000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\nm=audio 5000 RTP/AVP 18 0\r\nm=audio 5002 RTP/AVP 0\r\n",
        );
        let (answer, n) = answer_offer(
            &offer,
            origin(),
            addr(4000),
            &AudioOptions::default(),
            Direction::SendRecv,
        )
        .unwrap();
        assert_eq!(n.mline, 1);
        let ports: Vec<u16> = answer.media.iter().map(|m| m.port).collect();
        assert_eq!(ports, [0, 4000, 0]);
        assert_eq!(answer.media[0].media, "video");
        assert_eq!(answer.media[0].formats, ["96"]);
    }

    #[test]
    fn no_common_codec_and_no_audio() {
        let offer = parse(
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 9 18\r\n",
        );
        let err = answer_offer(
            &offer,
            origin(),
            addr(4000),
            &AudioOptions::default(),
            Direction::SendRecv,
        )
        .unwrap_err();
        assert_eq!(
            err,
            MediaError::NoCommonCodec {
                mline: 0,
                offered: "9 18".into()
            }
        );
        let offer = parse("v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nt=0 0\r\nm=video 5000 RTP/AVP 96\r\n");
        let err = answer_offer(
            &offer,
            origin(),
            addr(4000),
            &AudioOptions::default(),
            Direction::SendRecv,
        )
        .unwrap_err();
        assert_eq!(err, MediaError::NoAudio);
    }

    #[test]
    fn a_rtpmap_overrides_the_static_assignment() {
        // PT 0 remapped to something else must not be taken as PCMU.
        let offer = parse(
            "v=0\r\no=- 1 1 IN IP4 h\r\ns=-\r\nc=IN IP4 10.0.0.1\r\nt=0 0\r\nm=audio 5000 RTP/AVP 0 97\r\na=rtpmap:0 G729/8000\r\na=rtpmap:97 pcmu/8000\r\n",
        );
        let (_, n) = answer_offer(
            &offer,
            origin(),
            addr(4000),
            &AudioOptions::default(),
            Direction::SendRecv,
        )
        .unwrap();
        assert_eq!((n.codec, n.payload_type), (Codec::Pcmu, 97));
    }

    #[test]
    fn webrtc_and_srtp_offers_are_unsupported() {
        let offer = parse(
            "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\nc=IN IP4 0.0.0.0\r\n",
        );
        assert!(is_webrtc(&offer));
        let err = answer_offer(
            &offer,
            origin(),
            addr(4000),
            &AudioOptions::default(),
            Direction::SendRecv,
        )
        .unwrap_err();
        assert_eq!(
            err,
            MediaError::UnsupportedProfile {
                profile: "UDP/TLS/RTP/SAVPF".into(),
                mline: 0
            }
        );
        assert!(is_unsupported_profile("RTP/SAVP"));
        assert!(is_unsupported_profile("RTP/AVPF"));
        assert!(!is_unsupported_profile("RTP/AVP"));
    }

    #[test]
    fn accept_answer_checks_the_answer() {
        let opts = AudioOptions::default();
        let offer = build_offer(origin(), addr(4000), &opts, Direction::SendRecv);
        let ans = |m: &str| {
            parse(&format!(
                "v=0\r\no=- 2 2 IN IP4 h\r\ns=-\r\nc=IN IP4 10.0.0.2\r\nt=0 0\r\n{m}"
            ))
        };
        let n = accept_answer(
            &offer,
            &ans(
                "m=audio 7000 RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=recvonly\r\n",
            ),
            0,
            &opts,
        )
        .unwrap();
        assert_eq!(
            (n.codec, n.telephone_event, n.direction),
            (Codec::Pcmu, Some(101), Direction::SendOnly)
        );
        assert_eq!(n.remote_rtp, Some("10.0.0.2:7000".parse().unwrap()));
        assert_eq!(
            accept_answer(&offer, &ans("m=audio 0 RTP/AVP 0\r\n"), 0, &opts),
            Err(MediaError::Rejected)
        );
        assert!(matches!(
            accept_answer(&offer, &ans("m=audio 7000 RTP/AVP 18\r\n"), 0, &opts),
            Err(MediaError::AnswerMismatch(_))
        ));
        assert!(matches!(
            accept_answer(&offer, &ans("m=video 7000 RTP/AVP 0\r\n"), 0, &opts),
            Err(MediaError::AnswerMismatch(_))
        ));
        assert!(matches!(
            accept_answer(
                &offer,
                &ans("m=audio 7000 RTP/AVP 0\r\nm=audio 7002 RTP/AVP 0\r\n"),
                0,
                &opts
            ),
            Err(MediaError::AnswerMismatch(_))
        ));
        // An old-style hold answer (c=0.0.0.0) leaves no address to send to.
        let hold = parse(
            "v=0\r\no=- 2 2 IN IP4 h\r\ns=-\r\nc=IN IP4 0.0.0.0\r\nt=0 0\r\nm=audio 7000 RTP/AVP 8\r\n",
        );
        assert_eq!(
            accept_answer(&offer, &hold, 0, &opts).unwrap().remote_rtp,
            None
        );
    }
}
