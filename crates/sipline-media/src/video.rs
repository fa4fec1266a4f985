//! Encoded video for passthrough: [`VideoSource`] and [`VideoSink`] carry *encoded* frames
//! ([`VideoFrame`]: codec, 90 kHz timestamp, keyframe flag, bytes). There is no encoder or
//! decoder here: frames are read from files ([`IvfSource`], [`AnnexBSource`]), sent as they
//! are, and received frames are written to files ([`IvfRecorder`], [`AnnexBRecorder`]) or
//! handed to the application ([`ChannelVideoSink`], [`ChannelVideoSource`]).
//!
//! The RTP payload formats (VP8, RFC 7741; H.264, RFC 6184) are str0m's: [`crate::WebRtcMedia`]
//! gives it whole frames and gets whole frames back.
//!
//! File formats:
//! - IVF (the libvpx container): a 32-byte file header (`DKIF`, version 0, header size 32,
//!   fourcc `VP80`/`VP90`/`H264`, width, height, time base denominator and numerator, frame
//!   count) and per frame a 12-byte header (size, 64-bit timestamp in time base units)
//!   followed by the frame. All little endian.
//! - H.264 Annex B (ITU-T H.264 Annex B): NAL units separated by start codes `00 00 01` or
//!   `00 00 00 01`, no timing (a fixed frame rate is assumed, 30 fps unless told).
//!   Access units (frames) are found with a simple rule (see [`AnnexBSource`]).
//!
//! Both readers load the whole file at open time (files for calls are small) and never panic
//! on malformed input: they return [`VideoError`].

use std::fs::File;
use std::io::{BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::sync::mpsc;

/// The 90 kHz clock of video RTP timestamps (RFC 7741 §4.1, RFC 6184 §5.1).
pub const VIDEO_CLOCK: u64 = 90_000;

/// A video codec, as far as passthrough cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum VideoCodec {
    /// VP8 (RFC 6386; RTP payload RFC 7741).
    Vp8,
    /// VP9 (read and written in IVF; not negotiated by [`crate::WebRtcMedia`]).
    Vp9,
    /// H.264 (RTP payload RFC 6184), frames in Annex B byte stream format.
    H264,
}

impl VideoCodec {
    /// The IVF fourcc.
    pub fn fourcc(self) -> [u8; 4] {
        match self {
            VideoCodec::Vp8 => *b"VP80",
            VideoCodec::Vp9 => *b"VP90",
            VideoCodec::H264 => *b"H264",
        }
    }

    /// The codec of an IVF fourcc.
    pub fn from_fourcc(f: [u8; 4]) -> Option<Self> {
        match &f {
            b"VP80" => Some(VideoCodec::Vp8),
            b"VP90" => Some(VideoCodec::Vp9),
            b"H264" | b"h264" | b"AVC1" | b"avc1" => Some(VideoCodec::H264),
            _ => None,
        }
    }

    /// The SDP encoding name (`VP8`, `VP9`, `H264`).
    pub fn name(self) -> &'static str {
        match self {
            VideoCodec::Vp8 => "VP8",
            VideoCodec::Vp9 => "VP9",
            VideoCodec::H264 => "H264",
        }
    }
}

impl std::fmt::Display for VideoCodec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// One encoded frame (a VP8/VP9 frame, or an H.264 access unit in Annex B format).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoFrame {
    /// Its codec.
    pub codec: VideoCodec,
    /// Presentation time in 90 kHz units, from any origin; only differences matter.
    pub timestamp: u64,
    /// A keyframe (VP8 key frame, H.264 IDR access unit): decodable on its own.
    pub keyframe: bool,
    /// The encoded bytes.
    pub data: Vec<u8>,
}

/// What [`VideoSource::read_frame`] has.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VideoRead {
    /// The next frame; it is sent at its timestamp (relative to the first frame sent).
    Frame(VideoFrame),
    /// No frame now, ask again later (a live source).
    Later,
    /// No more frames.
    End,
}

/// Where encoded frames to send come from. Frames are pulled in order and sent when their
/// timestamp is due.
pub trait VideoSource: Send {
    /// The next frame, [`VideoRead::Later`], or [`VideoRead::End`].
    ///
    /// # Errors
    /// A malformed file or a failed read; the source counts as ended then.
    fn read_frame(&mut self) -> Result<VideoRead, VideoError>;

    /// The peer asked for a keyframe (RTCP PLI or FIR, RFC 4585 §6.3.1, RFC 5104 §4.3.1). A
    /// live source with an encoder should make the next frame a keyframe; a file cannot, so
    /// the default does nothing (the next keyframe in the file comes in its time).
    fn keyframe_requested(&mut self) {}
}

/// Where received encoded frames go.
pub trait VideoSink: Send {
    /// A complete received frame, in order.
    ///
    /// # Errors
    /// The frame could not be stored (I/O error, or a codec the format cannot hold).
    fn write_frame(&mut self, frame: &VideoFrame) -> Result<(), VideoError>;
}

/// Errors of video files and sinks.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VideoError {
    /// Reading or writing the file failed.
    #[error("{context}: {source}")]
    Io {
        /// What we were doing.
        context: String,
        /// The error.
        source: std::io::Error,
    },
    /// The file is not what its format says.
    #[error("malformed {format} file: {detail}")]
    Malformed {
        /// `IVF` or `H.264 Annex B`.
        format: &'static str,
        /// What is wrong.
        detail: String,
    },
    /// An IVF fourcc we do not know.
    #[error("unsupported IVF fourcc {0:?}")]
    UnsupportedFourcc(String),
    /// The sink cannot hold frames of this codec, or the file's extension is unknown.
    #[error("unsupported: {0}")]
    Unsupported(String),
}

fn io_err(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> VideoError {
    let context = context.into();
    move |source| VideoError::Io { context, source }
}

fn malformed(format: &'static str, detail: impl Into<String>) -> VideoError {
    VideoError::Malformed {
        format,
        detail: detail.into(),
    }
}

fn read_file(path: &Path) -> Result<Vec<u8>, VideoError> {
    let mut data = Vec::new();
    File::open(path)
        .and_then(|mut f| f.read_to_end(&mut data))
        .map_err(io_err(format!("reading {}", path.display())))?;
    Ok(data)
}

/// Whether an encoded frame is a keyframe: VP8 frame tag bit 0 clear (RFC 6386 §9.1), VP9
/// uncompressed header `frame_type` 0 (VP9 bitstream spec §6.2), H.264 an IDR NAL unit.
pub fn is_keyframe(codec: VideoCodec, data: &[u8]) -> bool {
    match codec {
        VideoCodec::Vp8 => data.first().is_some_and(|b| b & 1 == 0),
        VideoCodec::Vp9 => {
            let Some(&b) = data.first() else { return false };
            // frame_marker(2) profile_low(1) profile_high(1) [reserved(1) if profile 3]
            // show_existing_frame(1) frame_type(1), MSB first.
            if b >> 6 != 0b10 {
                return false;
            }
            let profile = ((b >> 5) & 1) | (((b >> 4) & 1) << 1);
            let shift = if profile == 3 { 2 } else { 3 };
            let show_existing = (b >> shift) & 1;
            let frame_type = (b >> (shift - 1)) & 1;
            show_existing == 0 && frame_type == 0
        }
        VideoCodec::H264 => nal_units(data).any(|n| n.first().is_some_and(|b| b & 0x1f == 5)),
    }
}

// ---------------------------------------------------------------------------------------
// IVF

const IVF_HEADER: usize = 32;
const IVF_FRAME_HEADER: usize = 12;

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// Frames of an IVF file, with their timestamps converted to 90 kHz.
#[derive(Debug)]
pub struct IvfSource {
    codec: VideoCodec,
    width: u16,
    height: u16,
    /// Time base numerator and denominator (a timestamp unit is num/den seconds).
    num: u64,
    den: u64,
    data: Vec<u8>,
    pos: usize,
}

impl IvfSource {
    /// Opens and checks the header of an IVF file.
    ///
    /// # Errors
    /// The file cannot be read, is not IVF, or has an unknown fourcc.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, VideoError> {
        let path = path.as_ref();
        Self::from_bytes(read_file(path)?)
    }

    /// An IVF file in memory.
    ///
    /// # Errors
    /// Not IVF, or an unknown fourcc.
    pub fn from_bytes(data: Vec<u8>) -> Result<Self, VideoError> {
        if data.len() < IVF_HEADER {
            return Err(malformed("IVF", "shorter than the 32-byte header"));
        }
        if &data[0..4] != b"DKIF" {
            return Err(malformed("IVF", "no DKIF signature"));
        }
        let header_len = usize::from(le16(&data, 6));
        if header_len < IVF_HEADER || header_len > data.len() {
            return Err(malformed("IVF", format!("header length {header_len}")));
        }
        let fourcc = [data[8], data[9], data[10], data[11]];
        let codec = VideoCodec::from_fourcc(fourcc).ok_or_else(|| {
            VideoError::UnsupportedFourcc(String::from_utf8_lossy(&fourcc).into_owned())
        })?;
        let den = u64::from(le32(&data, 16));
        let num = u64::from(le32(&data, 20));
        if den == 0 || num == 0 {
            return Err(malformed("IVF", format!("time base {num}/{den}")));
        }
        Ok(Self {
            codec,
            width: le16(&data, 12),
            height: le16(&data, 14),
            num,
            den,
            data,
            pos: header_len,
        })
    }

    /// The codec of the fourcc.
    pub fn codec(&self) -> VideoCodec {
        self.codec
    }

    /// Width and height from the header.
    pub fn size(&self) -> (u16, u16) {
        (self.width, self.height)
    }

    /// The next frame, `None` at the end.
    ///
    /// # Errors
    /// A frame header or frame cut short.
    pub fn next_frame(&mut self) -> Result<Option<VideoFrame>, VideoError> {
        if self.pos >= self.data.len() {
            return Ok(None);
        }
        let rest = &self.data[self.pos..];
        if rest.len() < IVF_FRAME_HEADER {
            return Err(malformed(
                "IVF",
                format!("frame header cut at {}", self.pos),
            ));
        }
        let size = le32(rest, 0) as usize;
        let pts = u64::from_le_bytes([
            rest[4], rest[5], rest[6], rest[7], rest[8], rest[9], rest[10], rest[11],
        ]);
        let Some(frame) = rest.get(IVF_FRAME_HEADER..IVF_FRAME_HEADER + size) else {
            return Err(malformed(
                "IVF",
                format!("frame of {size} bytes at {} cut short", self.pos),
            ));
        };
        let data = frame.to_vec();
        self.pos += IVF_FRAME_HEADER + size;
        let timestamp = (u128::from(pts) * u128::from(VIDEO_CLOCK) * u128::from(self.num)
            / u128::from(self.den)) as u64;
        Ok(Some(VideoFrame {
            codec: self.codec,
            timestamp,
            keyframe: is_keyframe(self.codec, &data),
            data,
        }))
    }
}

impl VideoSource for IvfSource {
    fn read_frame(&mut self) -> Result<VideoRead, VideoError> {
        Ok(self.next_frame()?.map_or(VideoRead::End, VideoRead::Frame))
    }
}

/// Writes frames to an IVF file: the fourcc is that of the first frame written (the codec
/// that arrived), the time base 1/90000 with the first frame at 0, width and height from a
/// first VP8 key frame (0 otherwise: decoders take them from the bitstream). The header is written
/// with the first frame; the frame count is updated by [`IvfRecorder::finish`] or on drop.
/// Each frame is flushed, so the file is readable while the call goes on.
pub struct IvfRecorder<W: Write + Seek + Send = BufWriter<File>> {
    out: W,
    codec: Option<VideoCodec>,
    first_ts: u64,
    frames: u32,
    finished: bool,
}

impl<W: Write + Seek + Send> std::fmt::Debug for IvfRecorder<W> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IvfRecorder")
            .field("codec", &self.codec)
            .field("frames", &self.frames)
            .finish_non_exhaustive()
    }
}

impl IvfRecorder {
    /// Creates (truncates) the file.
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, VideoError> {
        let path = path.as_ref();
        let f = File::create(path).map_err(io_err(format!("creating {}", path.display())))?;
        Ok(Self::new(BufWriter::new(f)))
    }
}

impl<W: Write + Seek + Send> IvfRecorder<W> {
    /// A recorder writing to `out`.
    pub fn new(out: W) -> Self {
        Self {
            out,
            codec: None,
            first_ts: 0,
            frames: 0,
            finished: false,
        }
    }

    /// Frames written so far.
    pub fn frames(&self) -> u32 {
        self.frames
    }

    /// Writes the frame count into the header and flushes.
    ///
    /// # Errors
    /// The write failed.
    pub fn finish(mut self) -> Result<(), VideoError> {
        let r = self.finalize();
        self.finished = true;
        r
    }

    fn finalize(&mut self) -> Result<(), VideoError> {
        if self.codec.is_none() || self.finished {
            return self.out.flush().map_err(io_err("flushing the IVF file"));
        }
        let end = self.out.stream_position().map_err(io_err("IVF position"))?;
        self.out
            .seek(SeekFrom::Start(24))
            .and_then(|_| self.out.write_all(&self.frames.to_le_bytes()))
            .and_then(|_| self.out.seek(SeekFrom::Start(end)))
            .and_then(|_| self.out.flush())
            .map_err(io_err("updating the IVF frame count"))
    }
}

impl<W: Write + Seek + Send> VideoSink for IvfRecorder<W> {
    fn write_frame(&mut self, frame: &VideoFrame) -> Result<(), VideoError> {
        match self.codec {
            Some(c) if c != frame.codec => {
                return Err(VideoError::Unsupported(format!(
                    "a {} frame in an IVF file of {c}",
                    frame.codec
                )));
            }
            Some(_) => {}
            None => {
                let (w, h) = frame_size(frame).unwrap_or((0, 0));
                let mut hdr = [0u8; IVF_HEADER];
                hdr[0..4].copy_from_slice(b"DKIF");
                hdr[6..8].copy_from_slice(&(IVF_HEADER as u16).to_le_bytes());
                hdr[8..12].copy_from_slice(&frame.codec.fourcc());
                hdr[12..14].copy_from_slice(&w.to_le_bytes());
                hdr[14..16].copy_from_slice(&h.to_le_bytes());
                hdr[16..20].copy_from_slice(&(VIDEO_CLOCK as u32).to_le_bytes());
                hdr[20..24].copy_from_slice(&1u32.to_le_bytes());
                self.out
                    .write_all(&hdr)
                    .map_err(io_err("writing the IVF header"))?;
                self.first_ts = frame.timestamp;
                self.codec = Some(frame.codec);
            }
        }
        let size = u32::try_from(frame.data.len())
            .map_err(|_| VideoError::Unsupported("a frame over 4 GiB".into()))?;
        let pts = frame.timestamp.wrapping_sub(self.first_ts);
        let mut fh = [0u8; IVF_FRAME_HEADER];
        fh[0..4].copy_from_slice(&size.to_le_bytes());
        fh[4..12].copy_from_slice(&pts.to_le_bytes());
        self.out
            .write_all(&fh)
            .and_then(|_| self.out.write_all(&frame.data))
            .and_then(|_| self.out.flush())
            .map_err(io_err("writing an IVF frame"))?;
        self.frames += 1;
        Ok(())
    }
}

impl<W: Write + Seek + Send> Drop for IvfRecorder<W> {
    fn drop(&mut self) {
        if !self.finished {
            let _ = self.finalize();
        }
    }
}

/// Width and height of a VP8 key frame (RFC 6386 §9.1: 3-byte tag, start code `9d 01 2a`,
/// 14-bit width and height); `None` for other frames and codecs.
fn frame_size(frame: &VideoFrame) -> Option<(u16, u16)> {
    if frame.codec != VideoCodec::Vp8 || !frame.keyframe {
        return None;
    }
    let d = &frame.data;
    if d.len() < 10 || d[3..6] != [0x9d, 0x01, 0x2a] {
        return None;
    }
    Some((le16(d, 6) & 0x3fff, le16(d, 8) & 0x3fff))
}

// ---------------------------------------------------------------------------------------
// H.264 Annex B

/// The NAL units of an Annex B byte stream, without start codes. Trailing zero bytes of a
/// NAL unit (from 4-byte start codes or `trailing_zero_8bits`) are dropped.
fn nal_units(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let mut starts = Vec::new();
    let mut i = 0;
    while i + 2 < data.len() {
        if data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1 {
            starts.push(i + 3);
            i += 3;
        } else {
            i += 1;
        }
    }
    let bounds: Vec<(usize, usize)> = starts
        .iter()
        .enumerate()
        .map(|(k, &s)| {
            let mut e = starts.get(k + 1).map_or(data.len(), |n| n - 3);
            while e > s && data[e - 1] == 0 {
                e -= 1;
            }
            (s, e)
        })
        .collect();
    bounds
        .into_iter()
        .map(move |(s, e)| &data[s..e])
        .filter(|n| !n.is_empty())
}

/// NAL unit type (ITU-T H.264 §7.4.1, Table 7-1).
fn nal_type(nal: &[u8]) -> u8 {
    nal.first().map_or(0, |b| b & 0x1f)
}

/// Frames (access units) of an H.264 Annex B file.
///
/// The access unit rule (a simplification of ITU-T H.264 §7.4.1.2.3): a new frame starts at
/// an access unit delimiter (NAL type 9), at an SPS, PPS or SEI (types 7, 8, 6) that follows
/// a slice, and at a slice (types 1, 5) whose `first_mb_in_slice` is 0 when the current
/// frame already holds a slice. Each frame's NAL units are written with 4-byte start codes;
/// access unit delimiters are left out (they only delimit, and str0m's RFC 6184 packetiser
/// drops them anyway). Annex B has no timing: frames are `90000 / fps` apart.
#[derive(Debug)]
pub struct AnnexBSource {
    frames: std::vec::IntoIter<VideoFrame>,
}

impl AnnexBSource {
    /// Opens an Annex B file at 30 frames per second.
    ///
    /// # Errors
    /// The file cannot be read or holds no NAL unit.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, VideoError> {
        Self::from_bytes(&read_file(path.as_ref())?, 30.0)
    }

    /// Opens an Annex B file at `fps` frames per second.
    ///
    /// # Errors
    /// As [`AnnexBSource::open`], or `fps` is not positive.
    pub fn open_with_rate(path: impl AsRef<Path>, fps: f64) -> Result<Self, VideoError> {
        Self::from_bytes(&read_file(path.as_ref())?, fps)
    }

    /// An Annex B stream in memory at `fps` frames per second.
    ///
    /// # Errors
    /// No NAL unit found, or `fps` is not positive.
    pub fn from_bytes(data: &[u8], fps: f64) -> Result<Self, VideoError> {
        if !(fps.is_finite() && fps > 0.0) {
            return Err(VideoError::Unsupported(format!("frame rate {fps}")));
        }
        let mut frames = Vec::new();
        let mut current: Vec<u8> = Vec::new();
        let mut has_slice = false;
        let flush = |current: &mut Vec<u8>, frames: &mut Vec<VideoFrame>| {
            if !current.is_empty() {
                let n = frames.len() as f64;
                let data = std::mem::take(current);
                frames.push(VideoFrame {
                    codec: VideoCodec::H264,
                    timestamp: (n * VIDEO_CLOCK as f64 / fps).round() as u64,
                    keyframe: is_keyframe(VideoCodec::H264, &data),
                    data,
                });
            }
        };
        let mut any = false;
        for nal in nal_units(data) {
            any = true;
            let t = nal_type(nal);
            let starts_au = match t {
                9 => true,
                6..=8 => has_slice,
                // first_mb_in_slice is ue(v) right after the 1-byte header: 0 is a single
                // `1` bit.
                1 | 5 => has_slice && nal.get(1).is_some_and(|b| b & 0x80 != 0),
                _ => false,
            };
            if starts_au {
                flush(&mut current, &mut frames);
                has_slice = false;
            }
            if t == 9 {
                continue;
            }
            if matches!(t, 1 | 5) {
                has_slice = true;
            }
            current.extend_from_slice(&[0, 0, 0, 1]);
            current.extend_from_slice(nal);
        }
        flush(&mut current, &mut frames);
        if !any {
            return Err(malformed("H.264 Annex B", "no start code / NAL unit found"));
        }
        Ok(Self {
            frames: frames.into_iter(),
        })
    }

    /// Frames left.
    pub fn remaining(&self) -> usize {
        self.frames.len()
    }
}

impl VideoSource for AnnexBSource {
    fn read_frame(&mut self) -> Result<VideoRead, VideoError> {
        Ok(self.frames.next().map_or(VideoRead::End, VideoRead::Frame))
    }
}

/// Writes H.264 frames (Annex B, as received) one after the other into a file; other codecs
/// are refused. Each frame is flushed.
#[derive(Debug)]
pub struct AnnexBRecorder<W: Write + Send = BufWriter<File>> {
    out: W,
    frames: u32,
}

impl AnnexBRecorder {
    /// Creates (truncates) the file.
    ///
    /// # Errors
    /// The file cannot be created.
    pub fn create(path: impl AsRef<Path>) -> Result<Self, VideoError> {
        let path = path.as_ref();
        let f = File::create(path).map_err(io_err(format!("creating {}", path.display())))?;
        Ok(Self::new(BufWriter::new(f)))
    }
}

impl<W: Write + Send> AnnexBRecorder<W> {
    /// A recorder writing to `out`.
    pub fn new(out: W) -> Self {
        Self { out, frames: 0 }
    }

    /// Frames written so far.
    pub fn frames(&self) -> u32 {
        self.frames
    }
}

impl<W: Write + Send> VideoSink for AnnexBRecorder<W> {
    fn write_frame(&mut self, frame: &VideoFrame) -> Result<(), VideoError> {
        if frame.codec != VideoCodec::H264 {
            return Err(VideoError::Unsupported(format!(
                "a {} frame in an H.264 Annex B file",
                frame.codec
            )));
        }
        let start_code =
            frame.data.starts_with(&[0, 0, 1]) || frame.data.starts_with(&[0, 0, 0, 1]);
        if !start_code {
            self.out
                .write_all(&[0, 0, 0, 1])
                .map_err(io_err("writing an H.264 frame"))?;
        }
        self.out
            .write_all(&frame.data)
            .and_then(|_| self.out.flush())
            .map_err(io_err("writing an H.264 frame"))?;
        self.frames += 1;
        Ok(())
    }
}

/// A source for a file by its extension: `.ivf` ([`IvfSource`]), `.h264`/`.264`/`.avc`
/// ([`AnnexBSource`] at 30 fps).
///
/// # Errors
/// An unknown extension, or the file's own errors.
pub fn open_video_source(path: impl AsRef<Path>) -> Result<Box<dyn VideoSource>, VideoError> {
    let path = path.as_ref();
    match extension(path).as_deref() {
        Some("ivf") => Ok(Box::new(IvfSource::open(path)?)),
        Some("h264" | "264" | "avc") => Ok(Box::new(AnnexBSource::open(path)?)),
        _ => Err(VideoError::Unsupported(format!(
            "{}: not .ivf, .h264 or .264",
            path.display()
        ))),
    }
}

/// A recorder for a file by its extension: `.ivf` ([`IvfRecorder`], any codec),
/// `.h264`/`.264`/`.avc` ([`AnnexBRecorder`], H.264 only).
///
/// # Errors
/// An unknown extension, or the file cannot be created.
pub fn create_video_recorder(path: impl AsRef<Path>) -> Result<Box<dyn VideoSink>, VideoError> {
    let path = path.as_ref();
    match extension(path).as_deref() {
        Some("ivf") => Ok(Box::new(IvfRecorder::create(path)?)),
        Some("h264" | "264" | "avc") => Ok(Box::new(AnnexBRecorder::create(path)?)),
        _ => Err(VideoError::Unsupported(format!(
            "{}: not .ivf, .h264 or .264",
            path.display()
        ))),
    }
}

fn extension(path: &Path) -> Option<String> {
    path.extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
}

// ---------------------------------------------------------------------------------------
// Channels

/// Received frames into a channel, for applications ([`crate::ChannelSink`] for video).
/// Frames are dropped when the receiver is gone.
#[derive(Debug, Clone)]
pub struct ChannelVideoSink {
    tx: mpsc::Sender<VideoFrame>,
}

impl ChannelVideoSink {
    /// A sink and the receiver of its frames.
    pub fn new() -> (Self, mpsc::Receiver<VideoFrame>) {
        let (tx, rx) = mpsc::channel();
        (Self { tx }, rx)
    }
}

impl VideoSink for ChannelVideoSink {
    fn write_frame(&mut self, frame: &VideoFrame) -> Result<(), VideoError> {
        let _ = self.tx.send(frame.clone());
        Ok(())
    }
}

/// Frames to send from a channel, for applications with their own encoder: each frame is
/// sent at its timestamp (relative to the first frame sent). The source ends when every
/// sender is dropped. Keyframe requests from the peer are counted in
/// [`ChannelVideoSource::keyframe_requests`]'s shared counter.
#[derive(Debug)]
pub struct ChannelVideoSource {
    rx: mpsc::Receiver<VideoFrame>,
    requests: std::sync::Arc<std::sync::atomic::AtomicU64>,
}

impl ChannelVideoSource {
    /// A source and the sender to feed it.
    pub fn new() -> (Self, mpsc::Sender<VideoFrame>) {
        let (tx, rx) = mpsc::channel();
        (
            Self {
                rx,
                requests: Default::default(),
            },
            tx,
        )
    }

    /// A counter of the peer's keyframe requests (PLI/FIR), shared with the application:
    /// when it grows, the encoder should produce a keyframe.
    pub fn keyframe_requests(&self) -> std::sync::Arc<std::sync::atomic::AtomicU64> {
        self.requests.clone()
    }
}

impl VideoSource for ChannelVideoSource {
    fn read_frame(&mut self) -> Result<VideoRead, VideoError> {
        match self.rx.try_recv() {
            Ok(f) => Ok(VideoRead::Frame(f)),
            Err(mpsc::TryRecvError::Empty) => Ok(VideoRead::Later),
            Err(mpsc::TryRecvError::Disconnected) => Ok(VideoRead::End),
        }
    }

    fn keyframe_requested(&mut self) {
        self.requests
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn frame(codec: VideoCodec, ts: u64, data: &[u8]) -> VideoFrame {
        VideoFrame {
            codec,
            timestamp: ts,
            keyframe: is_keyframe(codec, data),
            data: data.to_vec(),
        }
    }

    #[test]
    fn ivf_round_trip_in_memory() {
        let mut rec = IvfRecorder::new(Cursor::new(Vec::new()));
        let key = [
            0x50, 0x3a, 0x00, 0x9d, 0x01, 0x2a, 0xa0, 0x00, 0x78, 0x00, 1, 2,
        ];
        rec.write_frame(&frame(VideoCodec::Vp8, 1000, &key))
            .unwrap();
        rec.write_frame(&frame(VideoCodec::Vp8, 7000, &[0x31, 9, 9]))
            .unwrap();
        assert!(
            rec.write_frame(&frame(VideoCodec::H264, 9000, &[0, 0, 1, 0x65]))
                .is_err()
        );
        rec.finalize().unwrap();
        let bytes = rec.out.get_ref().clone();
        assert_eq!(&bytes[8..12], b"VP80");
        assert_eq!(le16(&bytes, 12), 160);
        assert_eq!(le16(&bytes, 14), 120);
        assert_eq!(le32(&bytes, 24), 2);
        let mut src = IvfSource::from_bytes(bytes).unwrap();
        let a = src.next_frame().unwrap().unwrap();
        assert!(a.keyframe);
        assert_eq!(a.timestamp, 0);
        assert_eq!(a.data, key);
        let b = src.next_frame().unwrap().unwrap();
        assert!(!b.keyframe);
        assert_eq!(b.timestamp, 6000);
        assert!(src.next_frame().unwrap().is_none());
    }

    #[test]
    fn malformed_ivf_is_an_error() {
        assert!(IvfSource::from_bytes(vec![]).is_err());
        assert!(IvfSource::from_bytes(vec![0; 40]).is_err());
        let mut h = vec![0u8; 32];
        h[0..4].copy_from_slice(b"DKIF");
        h[6] = 32;
        h[8..12].copy_from_slice(b"XXXX");
        assert!(matches!(
            IvfSource::from_bytes(h.clone()),
            Err(VideoError::UnsupportedFourcc(_))
        ));
        h[8..12].copy_from_slice(b"VP80");
        assert!(IvfSource::from_bytes(h.clone()).is_err()); // time base 0/0
        h[16] = 30;
        h[20] = 1;
        // A frame header claiming more bytes than there are.
        let mut f = h.clone();
        f.extend_from_slice(&[100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2]);
        let mut s = IvfSource::from_bytes(f).unwrap();
        assert!(s.read_frame().is_err());
        // A cut frame header.
        let mut f = h;
        f.extend_from_slice(&[1, 0, 0]);
        let mut s = IvfSource::from_bytes(f).unwrap();
        assert!(s.read_frame().is_err());
    }

    #[test]
    fn annexb_access_units() {
        // SPS PPS IDR(first_mb 0) | slice(first_mb 0) slice(first_mb != 0) | AUD slice
        let stream = [
            &[0, 0, 0, 1, 0x67, 1, 2][..],
            &[0, 0, 1, 0x68, 3],
            &[0, 0, 1, 0x65, 0x88, 4],
            &[0, 0, 0, 1, 0x41, 0x9a, 5],
            &[0, 0, 1, 0x41, 0x40, 6, 0],
            &[0, 0, 1, 0x09, 0xf0],
            &[0, 0, 1, 0x41, 0x9b, 7],
        ]
        .concat();
        let mut s = AnnexBSource::from_bytes(&stream, 25.0).unwrap();
        let VideoRead::Frame(a) = s.read_frame().unwrap() else {
            panic!()
        };
        assert!(a.keyframe);
        assert_eq!(a.timestamp, 0);
        assert_eq!(
            a.data,
            [
                0, 0, 0, 1, 0x67, 1, 2, 0, 0, 0, 1, 0x68, 3, 0, 0, 0, 1, 0x65, 0x88, 4
            ]
        );
        let VideoRead::Frame(b) = s.read_frame().unwrap() else {
            panic!()
        };
        assert!(!b.keyframe);
        assert_eq!(b.timestamp, 3600);
        assert_eq!(
            b.data,
            [0, 0, 0, 1, 0x41, 0x9a, 5, 0, 0, 0, 1, 0x41, 0x40, 6]
        );
        let VideoRead::Frame(c) = s.read_frame().unwrap() else {
            panic!()
        };
        assert_eq!(c.data, [0, 0, 0, 1, 0x41, 0x9b, 7]);
        assert_eq!(s.read_frame().unwrap(), VideoRead::End);
        assert!(AnnexBSource::from_bytes(&[1, 2, 3], 30.0).is_err());
        assert!(AnnexBSource::from_bytes(&stream, 0.0).is_err());
    }

    #[test]
    fn annexb_recorder_refuses_vp8() {
        let mut r = AnnexBRecorder::new(Vec::new());
        assert!(r.write_frame(&frame(VideoCodec::Vp8, 0, &[0])).is_err());
        r.write_frame(&frame(VideoCodec::H264, 0, &[0, 0, 0, 1, 0x65]))
            .unwrap();
        r.write_frame(&frame(VideoCodec::H264, 0, &[0x41])).unwrap();
        assert_eq!(r.out, [0, 0, 0, 1, 0x65, 0, 0, 0, 1, 0x41]);
    }

    #[test]
    fn vp9_keyframe_bit() {
        assert!(is_keyframe(VideoCodec::Vp9, &[0x82]));
        assert!(!is_keyframe(VideoCodec::Vp9, &[0x86]));
        assert!(!is_keyframe(VideoCodec::Vp9, &[]));
    }

    #[test]
    fn channels() {
        let (mut sink, rx) = ChannelVideoSink::new();
        sink.write_frame(&frame(VideoCodec::Vp8, 1, &[0])).unwrap();
        assert_eq!(rx.try_recv().unwrap().timestamp, 1);
        let (mut src, tx) = ChannelVideoSource::new();
        assert_eq!(src.read_frame().unwrap(), VideoRead::Later);
        tx.send(frame(VideoCodec::Vp8, 2, &[0])).unwrap();
        assert!(matches!(src.read_frame().unwrap(), VideoRead::Frame(_)));
        drop(tx);
        assert_eq!(src.read_frame().unwrap(), VideoRead::End);
        src.keyframe_requested();
        assert_eq!(
            src.keyframe_requests()
                .load(std::sync::atomic::Ordering::Relaxed),
            1
        );
    }

    proptest::proptest! {
        /// Any bytes as an IVF or an Annex B file: an error or frames, never a panic, and
        /// reading ends.
        #[test]
        fn random_files_never_panic(data in proptest::collection::vec(proptest::num::u8::ANY, 0..400)) {
            let mut with_header = b"DKIF\0\0\x20\0VP80".to_vec();
            with_header.extend_from_slice(&data);
            for bytes in [data.clone(), with_header] {
                if let Ok(mut s) = IvfSource::from_bytes(bytes) {
                    for _ in 0..1000 {
                        if !matches!(s.read_frame(), Ok(VideoRead::Frame(_))) {
                            break;
                        }
                    }
                }
            }
            let mut annexb = vec![0, 0, 0, 1];
            annexb.extend_from_slice(&data);
            for bytes in [&data, &annexb] {
                if let Ok(mut s) = AnnexBSource::from_bytes(bytes, 15.0) {
                    for _ in 0..1000 {
                        if !matches!(s.read_frame(), Ok(VideoRead::Frame(_))) {
                            break;
                        }
                    }
                }
            }
        }
    }
}
