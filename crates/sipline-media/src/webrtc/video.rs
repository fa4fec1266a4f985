//! Video passthrough for [`WebRtcMedia`]: one BUNDLEd video m-line carrying VP8 (RFC 7741)
//! or H.264 (RFC 6184, `packetization-mode=1`, `profile-level-id=42e01f`, constrained
//! baseline 3.1) with the RTCP feedback str0m negotiates for video (RFC 4585 `nack`,
//! `nack pli`, RFC 5104 `ccm fir`, plus `transport-cc` and `goog-remb`).
//!
//! Encoded frames from the [`VideoSource`] are written to str0m at their timestamps (str0m
//! packetises them and retransmits on NACK); frames str0m depacketises (`Event::MediaData`)
//! go to the [`VideoSink`] as they arrive. Nothing is decoded or encoded.
//!
//! - Sending starts when ICE and DTLS are up and the negotiated direction lets us send, with
//!   the first keyframe of the source. The first frame sent fixes the clock: each later frame
//!   goes out when its timestamp is due. After a stall of over a second (hold, a late
//!   runtime), the clock is re-anchored instead of sending the backlog in a burst.
//! - Muted ([`crate::MediaSession::set_muted`] with [`MediaKind::Video`]): frames are read at
//!   their pace and dropped, so the file stays in time; after unmute sending resumes at the
//!   next keyframe (a decoder cannot start from a delta frame). On hold (the negotiated
//!   direction does not let us send) the source is not read; on resume, too, sending starts
//!   at the next keyframe.
//! - Keyframe requests (PLI/FIR) are passed to [`VideoSource::keyframe_requested`]; a file
//!   source cannot make one, its next keyframe comes in its time. Re-sending an old keyframe
//!   would not help: the delta frames after it refer to other pictures.
//! - When received frames are not contiguous (packets lost for good), we ask the peer for a
//!   keyframe with a PLI (RFC 4585 §6.3.1) if it was negotiated.
//! - Only the first video m-line is used; VP9 and AV1 are not offered.
//!
//! [`MediaKind::Video`]: crate::MediaKind::Video

use std::time::{Duration, Instant};

use str0m::Rtc;
use str0m::RtcConfig;
use str0m::change::SdpApi;
use str0m::format::Codec as StrCodec;
use str0m::format::CodecExtra;
use str0m::media::{Direction as StrDirection, Frequency, KeyframeRequest, KeyframeRequestKind};
use str0m::media::{MediaData, MediaKind as StrKind, MediaTime, Mid};

use super::{WebRtcMedia, to_str0m};
use crate::error::MediaError;
use crate::sdp::{Direction, SessionDescription};
use crate::video::{VIDEO_CLOCK, VideoCodec, VideoFrame, VideoRead, VideoSink, VideoSource};

/// H.264 payload type and its RTX, as Chromium numbers constrained baseline with
/// packetization-mode 1.
const PT_H264: u8 = 108;
const PT_H264_RTX: u8 = 109;
/// Constrained baseline, level 3.1 (RFC 6184 §8.1 `profile-level-id`).
const H264_PROFILE_LEVEL_ID: u32 = 0x42e01f;
/// How often a live source that had nothing is asked again.
const POLL_LATER: Duration = Duration::from_millis(10);
/// A frame this late re-anchors the clock.
const MAX_LATE: Duration = Duration::from_secs(1);

/// The video half of a [`WebRtcMedia`].
pub(super) struct VideoState {
    source: Option<Box<dyn VideoSource>>,
    sink: Option<Box<dyn VideoSink>>,
    pub(super) mid: Option<Mid>,
    pub(super) muted: bool,
    /// The direction the peer's answer allows us for video, when it narrowed our offer.
    answer_limit: Option<Direction>,
    /// str0m's video direction before our pending offer changed it (for cancel_offer).
    pub(super) direction_before_offer: Option<(Mid, StrDirection)>,
    /// Drop frames until a keyframe (at start and after unmute).
    need_keyframe: bool,
    /// A frame read from the source and not yet due.
    pending: Option<VideoFrame>,
    /// The instant the anchor frame was due and its timestamp.
    epoch: Option<(Instant, u64)>,
    /// RTP media time of the anchor frame (random start, RFC 3550 §5.1).
    rtp_base: u64,
    /// When the last frame was sent and its RTP time: after a re-anchor the RTP clock goes
    /// on from it at the wall clock's pace (RFC 3550 §5.1).
    last_sent: Option<(Instant, u64)>,
    /// When to look at the source again.
    pub(super) next_poll: Option<Instant>,
    source_ended: bool,
    /// Codecs of the received frames (for streams).
    pub(super) received_codec: Option<VideoCodec>,
    /// A frame was received (the first after a gap triggers no PLI).
    received_any: bool,
}

impl VideoState {
    pub(super) fn new(
        source: Option<Box<dyn VideoSource>>,
        sink: Option<Box<dyn VideoSink>>,
        seed: u64,
    ) -> Self {
        Self {
            source,
            sink,
            mid: None,
            muted: false,
            answer_limit: None,
            direction_before_offer: None,
            need_keyframe: true,
            pending: None,
            epoch: None,
            rtp_base: seed & 0x3FFF_FFFF,
            last_sent: None,
            next_poll: None,
            source_ended: false,
            received_codec: None,
            received_any: false,
        }
    }

    /// What we can do: send with a source, receive with a sink.
    pub(super) fn capability(&self) -> Direction {
        match (self.source.is_some(), self.sink.is_some()) {
            (true, true) => Direction::SendRecv,
            (true, false) => Direction::SendOnly,
            (false, true) => Direction::RecvOnly,
            (false, false) => Direction::Inactive,
        }
    }

    pub(super) fn set_source(&mut self, source: Box<dyn VideoSource>) {
        self.source = Some(source);
        self.pending = None;
        self.epoch = None;
        self.need_keyframe = true;
        self.source_ended = false;
    }

    pub(super) fn set_sink(&mut self, sink: Box<dyn VideoSink>) {
        self.sink = Some(sink);
    }

    pub(super) fn set_muted(&mut self, muted: bool) {
        if self.muted && !muted {
            self.need_keyframe = true;
        }
        self.muted = muted;
    }
}

/// Adds our video codecs to str0m's configuration.
pub(super) fn configure(mut b: RtcConfig) -> RtcConfig {
    b = b.enable_vp8(true);
    b.codec_config().add_h264(
        PT_H264.into(),
        Some(PT_H264_RTX.into()),
        true,
        H264_PROFILE_LEVEL_ID,
    );
    b
}

fn codec_of(c: StrCodec) -> Option<VideoCodec> {
    match c {
        StrCodec::Vp8 => Some(VideoCodec::Vp8),
        StrCodec::Vp9 => Some(VideoCodec::Vp9),
        StrCodec::H264 => Some(VideoCodec::H264),
        _ => None,
    }
}

impl WebRtcMedia {
    /// Adds encoded video (builder style): our offers get a video m-line (VP8 and H.264),
    /// and a peer's video m-line is accepted, `sendrecv` with both, `sendonly` with only a
    /// source, `recvonly` with only a sink. Without this (or with neither), video m-lines are
    /// answered rejected (port 0). Must be called before the session starts: str0m's codec
    /// list is fixed then. See `webrtc/video.rs` for what is sent when.
    pub fn with_video(
        mut self,
        source: Option<Box<dyn VideoSource>>,
        sink: Option<Box<dyn VideoSink>>,
    ) -> Self {
        self.video = (source.is_some() || sink.is_some())
            .then(|| VideoState::new(source, sink, super::mix(self.cfg.seed ^ 0x5649_4445)));
        self
    }

    /// Whether video was configured.
    pub fn has_video(&self) -> bool {
        self.video.is_some()
    }

    /// The direction of our video stream as last negotiated (from our side): `None` when no
    /// video stream was negotiated, `Inactive` when it was rejected.
    pub fn video_direction(&self) -> Option<Direction> {
        let v = self.video.as_ref()?;
        let m = self.rtc.as_ref()?.media(v.mid?)?;
        if m.disabled() {
            return Some(Direction::Inactive);
        }
        let local = match m.direction() {
            StrDirection::SendRecv => Direction::SendRecv,
            StrDirection::SendOnly => Direction::SendOnly,
            StrDirection::RecvOnly => Direction::RecvOnly,
            StrDirection::Inactive => Direction::Inactive,
        };
        Some(v.answer_limit.map_or(local, |l| local.intersect(l)))
    }

    /// The video codecs negotiated for our video stream, in str0m's order (empty without
    /// one).
    pub fn video_codecs(&self) -> Vec<VideoCodec> {
        let mut v = Vec::new();
        let (Some(rtc), Some(mid)) = (self.rtc.as_ref(), self.video.as_ref().and_then(|v| v.mid))
        else {
            return v;
        };
        let Some(media) = rtc.media(mid) else {
            return v;
        };
        if media.disabled() {
            return v;
        }
        for p in media.remote_pts() {
            let Some(params) = rtc.codec_config().params().iter().find(|x| x.pt() == *p) else {
                continue;
            };
            if let Some(c) = codec_of(params.spec().codec)
                && !v.contains(&c)
            {
                v.push(c);
            }
        }
        v
    }

    /// The direction for our video m-line: what we can do, within what we want overall.
    pub(super) fn video_wish(&self) -> Option<Direction> {
        let v = self.video.as_ref()?;
        Some(v.capability().intersect(self.want_direction))
    }

    /// In an offer being built: adds the video m-line the first time, else sets its
    /// direction. Returns the video mid.
    pub(super) fn video_offer(api: &mut SdpApi<'_>, mid: Option<Mid>, dir: Direction) -> Mid {
        match mid {
            Some(mid) => {
                api.set_direction(mid, to_str0m(dir));
                mid
            }
            None => api.add_media(StrKind::Video, to_str0m(dir), None, None, None),
        }
    }

    /// The offer as str0m should see it for video: the first live video m-line's direction
    /// narrowed by our wish (str0m answers the direction it sees, reversed).
    pub(super) fn video_shown_offer(&self, parsed: &SessionDescription, offer: String) -> String {
        let Some(wish) = self.video_wish() else {
            return offer;
        };
        let Some(mline) = parsed
            .media
            .iter()
            .position(|m| m.media == "video" && m.port != 0)
        else {
            return offer;
        };
        let offered = parsed.direction(mline);
        let shown = offered.intersect(wish.reversed());
        if shown == offered {
            offer
        } else {
            super::with_direction(&offer, mline, shown)
        }
    }

    /// After str0m accepted an offer: the video mid from the offer (str0m announces media
    /// only once DTLS is up).
    pub(super) fn video_after_offer(&mut self, parsed: &SessionDescription) {
        let negotiated = self.negotiated;
        let Some(v) = self.video.as_mut() else { return };
        v.answer_limit = None;
        if v.mid.is_some() && negotiated {
            return;
        }
        let rtc = self.rtc.as_ref();
        v.mid = parsed
            .media
            .iter()
            .filter(|m| m.media == "video" && m.port != 0)
            .filter_map(|m| m.attribute("mid"))
            .map(Mid::from)
            .find(|mid| {
                rtc.and_then(|r| r.media(*mid))
                    .is_some_and(|m| m.kind() == StrKind::Video && !m.disabled())
            });
    }

    /// A refused offer: put back the video direction str0m changed for it, and forget a
    /// video m-line that was never negotiated.
    pub(super) fn video_cancel_offer(&mut self) {
        let negotiated = self.negotiated;
        let Some(v) = self.video.as_mut() else { return };
        if !negotiated {
            v.mid = None;
        }
        if let (Some((mid, dir)), Some(rtc)) = (v.direction_before_offer.take(), self.rtc.as_mut())
        {
            rtc.sdp_api().set_direction(mid, dir);
            self.drain();
        }
    }

    /// After the peer's answer: the direction it allows us for video.
    pub(super) fn video_after_answer(&mut self, parsed: &SessionDescription) {
        let Some(v) = self.video.as_mut() else { return };
        let mid = v.mid.map(|m| m.to_string());
        let index = parsed
            .media
            .iter()
            .position(|m| mid.is_some() && m.attribute("mid") == mid.as_deref());
        v.answer_limit = index
            .map(|i| {
                if parsed.media[i].port == 0 {
                    Direction::Inactive
                } else {
                    parsed.direction(i).reversed()
                }
            })
            .filter(|l| *l != Direction::SendRecv);
    }

    fn video_sending(&self) -> bool {
        self.connected && self.video_direction().is_some_and(Direction::sends)
    }

    /// The payload type to send `codec` with, if the peer accepted it.
    fn video_pt(rtc: &mut Rtc, mid: Mid, codec: VideoCodec) -> Option<str0m::media::Pt> {
        let writer = rtc.writer(mid)?;
        let mut best = None;
        for p in writer.payload_params() {
            if codec_of(p.spec().codec) != Some(codec) {
                continue;
            }
            let mode1 = p.spec().format.packetization_mode == Some(1);
            if codec != VideoCodec::H264 || mode1 {
                return Some(p.pt());
            }
            best.get_or_insert(p.pt());
        }
        best
    }

    /// Sends the frames that are due.
    pub(super) fn video_tick(&mut self, now: Instant) {
        let sending = self.video_sending();
        let Some(v) = self.video.as_mut() else { return };
        v.next_poll = None;
        if !sending {
            // On hold (or not connected): the source waits; when sending resumes, the peer's
            // decoder needs a keyframe first.
            v.need_keyframe = true;
            return;
        }
        if v.source.is_none() || v.source_ended {
            return;
        }
        loop {
            let Some(v) = self.video.as_mut() else { return };
            let Some(source) = v.source.as_mut() else {
                return;
            };
            if v.pending.is_none() {
                match source.read_frame() {
                    Ok(VideoRead::Frame(f)) => v.pending = Some(f),
                    Ok(VideoRead::Later) => {
                        v.next_poll = Some(now + POLL_LATER);
                        return;
                    }
                    Ok(VideoRead::End) | Err(_) => {
                        v.source_ended = true;
                        return;
                    }
                }
            }
            let Some(frame) = v.pending.as_ref() else {
                return;
            };
            let (epoch, epoch_ts) = *v.epoch.get_or_insert((now, frame.timestamp));
            let offset = frame.timestamp.saturating_sub(epoch_ts);
            let mut due = epoch + Duration::from_micros(offset * 1_000_000 / VIDEO_CLOCK);
            if due > now {
                v.next_poll = Some(due);
                return;
            }
            if now.saturating_duration_since(due) > MAX_LATE {
                // Stalled (hold, a late runtime): start the clock again from this frame, the
                // RTP time going on from the last frame sent.
                v.rtp_base = v.last_sent.map_or(v.rtp_base, |(at, t)| {
                    let gap = now.saturating_duration_since(at).as_micros() as u64;
                    t + (gap * VIDEO_CLOCK / 1_000_000).max(1)
                });
                v.epoch = Some((now, frame.timestamp));
                due = now;
            }
            let Some(frame) = v.pending.take() else {
                return;
            };
            let (epoch_ts, rtp_base) = v
                .epoch
                .map_or((frame.timestamp, v.rtp_base), |e| (e.1, v.rtp_base));
            if v.muted || (v.need_keyframe && !frame.keyframe) {
                self.stats.video_frames_dropped += 1;
                continue;
            }
            v.need_keyframe = false;
            let rtp = rtp_base + frame.timestamp.saturating_sub(epoch_ts);
            let Some(mid) = v.mid else { return };
            let Some(rtc) = self.rtc.as_mut() else { return };
            let Some(pt) = Self::video_pt(rtc, mid, frame.codec) else {
                self.stats.video_frames_dropped += 1;
                continue;
            };
            let Some(writer) = rtc.writer(mid) else {
                return;
            };
            let time = MediaTime::new(rtp, Frequency::NINETY_KHZ);
            let written = writer.write(pt, due, time, frame.data);
            if written.is_ok() {
                self.stats.video_frames_sent += 1;
                if let Some(v) = self.video.as_mut() {
                    v.last_sent = Some((due, rtp));
                }
            } else {
                self.stats.video_frames_dropped += 1;
            }
            // str0m's invariant: poll after every write.
            self.drain();
        }
    }

    /// A frame str0m depacketised on our video m-line: to the sink.
    pub(super) fn on_video_data(&mut self, d: MediaData) {
        let Some(codec) = codec_of(d.params.spec().codec) else {
            return;
        };
        let keyframe = match d.codec_extra {
            CodecExtra::Vp8(e) => e.is_keyframe,
            CodecExtra::H264(e) => e.is_keyframe,
            CodecExtra::Vp9(e) => e.is_keyframe,
            _ => crate::video::is_keyframe(codec, &d.data),
        };
        let frame = VideoFrame {
            codec,
            timestamp: d.time.rebase(Frequency::NINETY_KHZ).numer(),
            keyframe,
            data: d.data.to_vec(),
        };
        self.stats.video_frames_received += 1;
        let Some(v) = self.video.as_mut() else { return };
        let gap = v.received_any && !d.contiguous;
        v.received_any = true;
        v.received_codec = Some(codec);
        if let Some(sink) = v.sink.as_mut() {
            // A failing sink (disk full) must not stop the call; the count shows it.
            if sink.write_frame(&frame).is_err() {
                self.stats.video_frames_dropped += 1;
            }
        }
        if gap
            && !keyframe
            && let Some(mut writer) = self.rtc.as_mut().and_then(|r| r.writer(d.mid))
            && writer.is_request_keyframe_possible(KeyframeRequestKind::Pli)
        {
            let _ = writer.request_keyframe(None, KeyframeRequestKind::Pli);
            self.drain();
        }
    }

    /// The peer asked for a keyframe on our video m-line.
    pub(super) fn on_keyframe_request(&mut self, r: KeyframeRequest) {
        let Some(v) = self.video.as_mut() else { return };
        if Some(r.mid) != v.mid {
            return;
        }
        self.stats.video_keyframe_requests += 1;
        if let Some(s) = v.source.as_mut() {
            s.keyframe_requested();
        }
    }

    /// Replaces the video source; an error when video was not configured and str0m is
    /// already set up without video codecs.
    pub(super) fn replace_video_source(
        &mut self,
        source: Box<dyn VideoSource>,
    ) -> Result<(), MediaError> {
        match self.video.as_mut() {
            Some(v) => v.set_source(source),
            None if self.rtc.is_none() => {
                let seed = super::mix(self.cfg.seed ^ 0x5649_4445);
                self.video = Some(VideoState::new(Some(source), None, seed));
            }
            None => {
                return Err(MediaError::VideoUnsupported(
                    "video was not configured before the session started (with_video)",
                ));
            }
        }
        Ok(())
    }

    /// Replaces the video sink; see [`WebRtcMedia::replace_video_source`].
    pub(super) fn replace_video_sink(
        &mut self,
        sink: Box<dyn VideoSink>,
    ) -> Result<(), MediaError> {
        match self.video.as_mut() {
            Some(v) => v.set_sink(sink),
            None if self.rtc.is_none() => {
                let seed = super::mix(self.cfg.seed ^ 0x5649_4445);
                self.video = Some(VideoState::new(None, Some(sink), seed));
            }
            None => {
                return Err(MediaError::VideoUnsupported(
                    "video was not configured before the session started (with_video)",
                ));
            }
        }
        Ok(())
    }
}
