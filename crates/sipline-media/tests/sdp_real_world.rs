//! SDP from real peers, and property tests that untrusted SDP and datagrams never panic.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::time::Instant;

use proptest::prelude::*;
use sipline_media::offer_answer::{self, AudioOptions, answer_offer};
use sipline_media::rtp::RtpHeader;
use sipline_media::sdp::{AddrType, Origin};
use sipline_media::{
    Codec, Direction, MediaError, MediaInput, MediaOutput, MediaSession, RtpConfig, RtpMedia,
    SessionDescription, is_webrtc,
};

/// sipp 3.6's built-in `uac` scenario body, with its keywords filled in.
const SIPP_UAC: &str = "v=0\r\n\
o=user1 53655765 2353687637 IN IP4 127.0.0.1\r\n\
s=-\r\n\
c=IN IP4 127.0.0.1\r\n\
t=0 0\r\n\
m=audio 6000 RTP/AVP 0\r\n\
a=rtpmap:0 PCMU/8000\r\n";

/// A baresip 1.0 offer with the g711 module (LF line ends as some builds log them).
const BARESIP: &str = "v=0\n\
o=- 1904214713 2616432318 IN IP4 127.0.0.1\n\
s=-\n\
c=IN IP4 127.0.0.1\n\
t=0 0\n\
m=audio 10002 RTP/AVP 0 8 101\n\
b=AS:64\n\
a=rtpmap:0 PCMU/8000\n\
a=rtpmap:8 PCMA/8000\n\
a=rtpmap:101 telephone-event/8000\n\
a=fmtp:101 0-15\n\
a=sendrecv\n\
a=label:1\n\
a=ssrc:3414159282 cname:c0a2a4b8-3ee0-4bd6-a5d5-9c1e1b0b7e7e\n\
a=rtcp-rsize\n\
a=ptime:20\n";

/// An Asterisk 18 (chan_pjsip) offer with several codecs, G.722 first.
const ASTERISK: &str = "v=0\r\n\
o=- 1710342106 1710342108 IN IP4 192.168.1.10\r\n\
s=Asterisk\r\n\
c=IN IP4 192.168.1.10\r\n\
t=0 0\r\n\
m=audio 14562 RTP/AVP 9 107 8 0 3 101\r\n\
a=rtpmap:9 G722/8000\r\n\
a=rtpmap:107 opus/48000/2\r\n\
a=fmtp:107 useinbandfec=1\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:3 GSM/8000\r\n\
a=rtpmap:101 telephone-event/8000\r\n\
a=fmtp:101 0-16\r\n\
a=ptime:20\r\n\
a=maxptime:150\r\n\
a=sendrecv\r\n";

/// A Linphone offer with audio and video and ICE attributes, RTCP on a separate port.
const LINPHONE: &str = "v=0\r\n\
o=alice 2890 1021 IN IP4 10.1.2.3\r\n\
s=Talk\r\n\
c=IN IP4 10.1.2.3\r\n\
t=0 0\r\n\
a=ice-pwd:31ec21eb38b2ec6d36e8dc7b\r\n\
a=ice-ufrag:0e9c8b4a\r\n\
a=rtcp-xr:rcvr-rtt=all:10000 stat-summary=loss,dup,jitt,TTL voip-metrics\r\n\
m=audio 7078 RTP/AVP 96 97 98 0 8 101 99 100\r\n\
a=rtpmap:96 opus/48000/2\r\n\
a=fmtp:96 useinbandfec=1\r\n\
a=rtpmap:97 speex/16000\r\n\
a=fmtp:97 vbr=on\r\n\
a=rtpmap:98 speex/8000\r\n\
a=rtpmap:101 telephone-event/48000\r\n\
a=rtpmap:99 telephone-event/16000\r\n\
a=rtpmap:100 telephone-event/8000\r\n\
a=rtcp:7079\r\n\
a=candidate:1 1 UDP 2130706431 10.1.2.3 7078 typ host\r\n\
a=rtcp-fb:* trr-int 1000\r\n\
m=video 9078 RTP/AVP 96\r\n\
a=rtpmap:96 VP8/90000\r\n\
a=rtcp-fb:* ccm fir\r\n";

/// A Chromium WebRTC offer (trimmed).
const CHROMIUM: &str = "v=0\r\n\
o=- 4611731400430051336 2 IN IP4 127.0.0.1\r\n\
s=-\r\n\
t=0 0\r\n\
a=group:BUNDLE 0\r\n\
a=extmap-allow-mixed\r\n\
a=msid-semantic: WMS\r\n\
m=audio 9 UDP/TLS/RTP/SAVPF 111 63 9 0 8 13 110 126\r\n\
c=IN IP4 0.0.0.0\r\n\
a=rtcp:9 IN IP4 0.0.0.0\r\n\
a=ice-ufrag:EsAw\r\n\
a=ice-pwd:bP+XJMM09aR8AiX1jdukzR6Y\r\n\
a=fingerprint:sha-256 D2:FA:0E:C3:22:59:5E:14:95:69:92:3D:13:B4:84:24:2C:C2:A2:C0:3E:FD:34:8E:5E:EA:6F:AF:52:CE:E6:0F\r\n\
a=setup:actpass\r\n\
a=mid:0\r\n\
a=sendrecv\r\n\
a=rtcp-mux\r\n\
a=rtpmap:111 opus/48000/2\r\n\
a=rtpmap:0 PCMU/8000\r\n\
a=rtpmap:8 PCMA/8000\r\n\
a=rtpmap:126 telephone-event/8000\r\n";

/// An SDES-SRTP offer from a desk phone.
const SRTP_SDES: &str = "v=0\r\n\
o=- 20518 0 IN IP4 10.0.0.20\r\n\
s=SDP data\r\n\
c=IN IP4 10.0.0.20\r\n\
t=0 0\r\n\
m=audio 11780 RTP/SAVP 0 8 101\r\n\
a=crypto:1 AES_CM_128_HMAC_SHA1_80 inline:WVNfX19zZW1jdGwgKCkgewkyMjA7fQp9CnVubGVz\r\n\
a=rtpmap:101 telephone-event/8000\r\n";

fn origin() -> Origin {
    Origin {
        username: "-".into(),
        session_id: "9".into(),
        session_version: "1".into(),
        addr_type: AddrType::Ip4,
        address: "127.0.0.1".into(),
    }
}

fn local() -> SocketAddr {
    "127.0.0.1:30000".parse().unwrap()
}

fn answer(offer: &str) -> Result<(SessionDescription, offer_answer::Negotiated), MediaError> {
    let offer = SessionDescription::parse(offer)?;
    answer_offer(
        &offer,
        origin(),
        local(),
        &AudioOptions::default(),
        Direction::SendRecv,
    )
}

#[test]
fn sipp_uac() {
    let sdp = SessionDescription::parse(SIPP_UAC).unwrap();
    assert_eq!(sdp.to_string(), SIPP_UAC, "round trip is exact");
    let (ans, n) = answer(SIPP_UAC).unwrap();
    assert_eq!(
        (n.codec, n.payload_type, n.telephone_event),
        (Codec::Pcmu, 0, None)
    );
    assert_eq!(n.remote_rtp, Some("127.0.0.1:6000".parse().unwrap()));
    assert!(ans.to_string().contains("m=audio 30000 RTP/AVP 0\r\n"));
}

#[test]
fn baresip() {
    let sdp = SessionDescription::parse(BARESIP).unwrap();
    let m = &sdp.media[0];
    assert_eq!(
        m.attribute("ssrc"),
        Some("3414159282 cname:c0a2a4b8-3ee0-4bd6-a5d5-9c1e1b0b7e7e")
    );
    assert_eq!(m.attribute("rtcp-rsize"), Some(""));
    assert_eq!(m.extra[0].value, "AS:64");
    // Written back with CRLF, nothing lost.
    let again = SessionDescription::parse(&sdp.to_string()).unwrap();
    assert_eq!(again, sdp);
    let (ans, n) = answer(BARESIP).unwrap();
    assert_eq!(
        (n.codec, n.telephone_event, n.ptime),
        (Codec::Pcmu, Some(101), 20)
    );
    assert!(ans.to_string().contains("a=fmtp:101 0-15\r\n"));
}

#[test]
fn asterisk_with_several_codecs() {
    let (ans, n) = answer(ASTERISK).unwrap();
    // G.722 and Opus are not ours; PCMA is the first of the offer we support (RFC 3264 §6.1).
    assert_eq!(
        (n.codec, n.payload_type, n.telephone_event),
        (Codec::Pcma, 8, Some(101))
    );
    assert_eq!(n.remote_rtp, Some("192.168.1.10:14562".parse().unwrap()));
    let text = ans.to_string();
    assert!(text.contains("m=audio 30000 RTP/AVP 8 101\r\n"), "{text}");
    assert!(text.contains("a=sendrecv\r\n"));
    assert_eq!(
        SessionDescription::parse(ASTERISK).unwrap().media[0].attribute("maxptime"),
        Some("150")
    );
}

#[test]
fn linphone_audio_and_video() {
    let (ans, n) = answer(LINPHONE).unwrap();
    assert_eq!(
        (n.codec, n.telephone_event),
        (Codec::Pcmu, Some(100)),
        "the 8 kHz telephone-event"
    );
    assert_eq!(n.remote_rtcp, Some("10.1.2.3:7079".parse().unwrap()));
    assert_eq!(ans.media.len(), 2);
    assert_eq!(
        (ans.media[1].media.as_str(), ans.media[1].port),
        ("video", 0)
    );
    let sdp = SessionDescription::parse(LINPHONE).unwrap();
    assert_eq!(sdp.attributes.len(), 3);
    assert_eq!(sdp.session_name, "Talk");
}

#[test]
fn webrtc_and_srtp_are_unsupported_profiles() {
    let sdp = SessionDescription::parse(CHROMIUM).unwrap();
    assert!(is_webrtc(&sdp));
    assert_eq!(
        answer(CHROMIUM).unwrap_err(),
        MediaError::UnsupportedProfile {
            profile: "UDP/TLS/RTP/SAVPF".into(),
            mline: 0
        }
    );
    assert!(matches!(
        answer(SRTP_SDES),
        Err(MediaError::UnsupportedProfile { .. })
    ));
    assert!(!is_webrtc(&SessionDescription::parse(ASTERISK).unwrap()));
    // Through the trait too.
    let mut m = RtpMedia::new(RtpConfig::new(local(), 1));
    assert!(matches!(
        m.accept_offer(Instant::now(), CHROMIUM),
        Err(MediaError::UnsupportedProfile { .. })
    ));
}

#[test]
fn our_offer_is_accepted_by_our_answerer_and_round_trips() {
    let mut a = RtpMedia::new(RtpConfig::new(local(), 1));
    let offer = a.create_offer(Instant::now()).unwrap();
    let parsed = SessionDescription::parse(&offer).unwrap();
    assert_eq!(parsed.to_string(), offer);
    assert!(offer.starts_with("v=0\r\no=- "));
    assert!(offer.contains("m=audio 30000 RTP/AVP 0 8 101\r\n"));
}

fn sdp_line() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("v=0".to_string()),
        "o=[-a-z]{1,4} [0-9]{1,20} [0-9]{1,3} IN IP[46x] [0-9.:a-f]{1,15}",
        "s=.{0,5}",
        "c=IN IP[46] [0-9.:]{1,15}(/[0-9]{1,3})?",
        "t=[0-9]{1,3} [0-9x]{1,3}",
        "m=(audio|video) [0-9]{1,6}(/[0-9])? (RTP/AVP|RTP/SAVP|UDP/TLS/RTP/SAVPF|x) [0-9 ]{0,12}",
        "a=rtpmap:[0-9]{1,4} [A-Za-z-]{0,16}/[0-9]{0,6}(/[0-9])?",
        "a=fmtp:[0-9]{1,3} [-0-9,]{0,8}",
        "a=(sendrecv|sendonly|recvonly|inactive|ptime:[0-9]{1,3}|rtcp:[0-9]{1,6}( IN IP4 [0-9.]{1,15})?)",
        "[a-z]=.{0,10}",
        ".{0,10}",
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = SessionDescription::parse_bytes(&bytes);
        let _ = RtpHeader::parse(&bytes);
    }

    #[test]
    fn sdp_like_text_never_panics_and_round_trips(lines in proptest::collection::vec(sdp_line(), 0..12), crlf in any::<bool>()) {
        let body = lines.join(if crlf { "\r\n" } else { "\n" });
        if let Ok(sdp) = SessionDescription::parse(&body) {
            let written = sdp.to_string();
            let again = SessionDescription::parse(&written);
            prop_assert_eq!(again.as_ref(), Ok(&sdp), "{}", written);
            let _ = answer_offer(&sdp, origin(), local(), &AudioOptions::default(), Direction::SendRecv);
            let offer = offer_answer::build_offer(origin(), local(), &AudioOptions::default(), Direction::SendRecv);
            let _ = offer_answer::accept_answer(&offer, &sdp, 0, &AudioOptions::default());
        }
    }

    #[test]
    fn random_datagrams_never_panic_a_session(packets in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..200), 0..40)) {
        let mut a = RtpMedia::new(RtpConfig::new(local(), 1));
        let mut b = RtpMedia::new(RtpConfig::new("127.0.0.1:30002".parse().unwrap(), 2));
        let now = Instant::now();
        let offer = a.create_offer(now).unwrap();
        let answer = b.accept_offer(now, &offer).unwrap();
        a.accept_answer(now, &answer).unwrap();
        let mut t = now;
        for mut p in packets {
            // Make many of them look like RTP so they get past the header check.
            if p.len() >= 12 && p[0] & 1 == 0 {
                p[0] = 0x80;
                p[1] = [0u8, 8, 101, 13, 0x80 | 101][usize::from(p[1]) % 5];
            }
            t += std::time::Duration::from_millis(7);
            a.handle_input(t, MediaInput::Receive { source: "127.0.0.1:30002".parse().unwrap(), contents: &p });
            while !matches!(a.poll_output(), MediaOutput::Timeout(_)) {}
        }
    }
}
