//! Audio sources and sinks: mono 16-bit PCM frames at a sample rate the source or sink
//! declares (8 kHz for G.711, RFC 3551 §4.5.14; 48 kHz for a later Opus implementation).
//!
//! Sources are pulled one frame per packet time by the media session; sinks are pushed each
//! decoded frame. Both are `Send` so a session can move to the runtime's task.

use std::f64::consts::TAU;
use std::fs::File;
use std::io::{BufReader, BufWriter, Read, Seek, Write};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

/// Something that produces mono 16-bit PCM at [`AudioSource::sample_rate`].
pub trait AudioSource: Send {
    /// Samples per second of the frames `read` produces.
    fn sample_rate(&self) -> u32;

    /// Fills the start of `frame` with the next samples and returns how many were written.
    /// Fewer than `frame.len()` means the source ended part-way; the caller pads with silence.
    /// A source that has ended returns 0 from then on.
    fn read(&mut self, frame: &mut [i16]) -> usize;
}

/// Something that consumes mono 16-bit PCM at [`AudioSink::sample_rate`].
pub trait AudioSink: Send {
    /// Samples per second of the frames it expects.
    fn sample_rate(&self) -> u32;

    /// Consumes one decoded frame.
    fn write(&mut self, frame: &[i16]);
}

/// A source fed by the application: PCM frames (any length) sent into a
/// [`std::sync::mpsc::Sender`] are played in order; while none is queued the source plays
/// silence, and it ends once every sender is dropped and the queue is drained.
#[derive(Debug)]
pub struct ChannelSource {
    sample_rate: u32,
    rx: std::sync::mpsc::Receiver<Vec<i16>>,
    pending: std::collections::VecDeque<i16>,
    ended: bool,
}

impl ChannelSource {
    /// A source at `sample_rate` and the sender that feeds it.
    pub fn new(sample_rate: u32) -> (Self, std::sync::mpsc::Sender<Vec<i16>>) {
        let (tx, rx) = std::sync::mpsc::channel();
        (
            Self {
                sample_rate,
                rx,
                pending: std::collections::VecDeque::new(),
                ended: false,
            },
            tx,
        )
    }
}

impl AudioSource for ChannelSource {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn read(&mut self, frame: &mut [i16]) -> usize {
        if self.ended {
            return 0;
        }
        while self.pending.len() < frame.len() {
            match self.rx.try_recv() {
                Ok(samples) => self.pending.extend(samples),
                Err(std::sync::mpsc::TryRecvError::Empty) => break,
                Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                    if self.pending.is_empty() {
                        self.ended = true;
                        return 0;
                    }
                    break;
                }
            }
        }
        for s in frame.iter_mut() {
            // Silence while the application has nothing queued.
            *s = self.pending.pop_front().unwrap_or(0);
        }
        frame.len()
    }
}

/// A sink that hands every decoded frame to the application through a
/// [`std::sync::mpsc::Receiver`]; frames are dropped once the receiver is gone.
#[derive(Debug)]
pub struct ChannelSink {
    sample_rate: u32,
    tx: std::sync::mpsc::Sender<Vec<i16>>,
}

impl ChannelSink {
    /// A sink at `sample_rate` and the receiver of its frames.
    pub fn new(sample_rate: u32) -> (Self, std::sync::mpsc::Receiver<Vec<i16>>) {
        let (tx, rx) = std::sync::mpsc::channel();
        (Self { sample_rate, tx }, rx)
    }
}

impl AudioSink for ChannelSink {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn write(&mut self, frame: &[i16]) {
        let _ = self.tx.send(frame.to_vec());
    }
}

/// Errors of the WAV source and recorder.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AudioError {
    /// The WAV file could not be read or written.
    #[error("WAV: {0}")]
    Wav(#[from] hound::Error),
    /// The WAV file is not integer PCM of at most 16 bits.
    #[error("unsupported WAV format: {bits} bits, {format:?}")]
    UnsupportedFormat {
        /// Bits per sample.
        bits: u16,
        /// Integer or float.
        format: hound::SampleFormat,
    },
}

/// Endless silence.
#[derive(Debug, Clone)]
pub struct SilenceSource {
    sample_rate: u32,
}

impl SilenceSource {
    /// Silence at `sample_rate`.
    pub fn new(sample_rate: u32) -> Self {
        Self { sample_rate }
    }
}

impl AudioSource for SilenceSource {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn read(&mut self, frame: &mut [i16]) -> usize {
        frame.fill(0);
        frame.len()
    }
}

/// An endless sine tone.
#[derive(Debug, Clone)]
pub struct ToneSource {
    sample_rate: u32,
    step: f64,
    phase: f64,
    amplitude: f64,
}

impl ToneSource {
    /// A sine of `frequency` Hz with peak `level_dbfs` (0 dBFS = full scale, -10 is typical).
    pub fn new(sample_rate: u32, frequency: f32, level_dbfs: f32) -> Self {
        let amplitude = 32767.0 * 10f64.powf(f64::from(level_dbfs.min(0.0)) / 20.0);
        Self {
            sample_rate,
            step: TAU * f64::from(frequency) / f64::from(sample_rate.max(1)),
            phase: 0.0,
            amplitude,
        }
    }
}

impl AudioSource for ToneSource {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn read(&mut self, frame: &mut [i16]) -> usize {
        for s in frame.iter_mut() {
            *s = (self.phase.sin() * self.amplitude) as i16;
            self.phase = (self.phase + self.step) % TAU;
        }
        frame.len()
    }
}

/// PCM samples from a WAV file, loaded into memory at open (first channel only).
#[derive(Debug, Clone)]
pub struct WavSource {
    sample_rate: u32,
    samples: Vec<i16>,
    pos: usize,
    looping: bool,
}

impl WavSource {
    /// Opens a WAV file of 8- or 16-bit integer PCM; other channels than the first are dropped.
    pub fn open(path: impl AsRef<Path>) -> Result<Self, AudioError> {
        Self::from_reader(BufReader::new(
            File::open(path).map_err(hound::Error::IoError)?,
        ))
    }

    /// Reads a WAV stream (see [`WavSource::open`]).
    pub fn from_reader<R: Read>(reader: R) -> Result<Self, AudioError> {
        let mut r = hound::WavReader::new(reader)?;
        let spec = r.spec();
        if spec.sample_format != hound::SampleFormat::Int || spec.bits_per_sample > 16 {
            return Err(AudioError::UnsupportedFormat {
                bits: spec.bits_per_sample,
                format: spec.sample_format,
            });
        }
        let shift = 16 - spec.bits_per_sample;
        let channels = usize::from(spec.channels.max(1));
        let samples = r
            .samples::<i16>()
            .step_by(channels)
            .map(|s| s.map(|v| v << shift))
            .collect::<Result<Vec<i16>, _>>()?;
        Ok(Self {
            sample_rate: spec.sample_rate,
            samples,
            pos: 0,
            looping: false,
        })
    }

    /// Samples from memory.
    pub fn from_samples(sample_rate: u32, samples: Vec<i16>) -> Self {
        Self {
            sample_rate,
            samples,
            pos: 0,
            looping: false,
        }
    }

    /// Restart from the beginning at the end instead of ending.
    pub fn looping(mut self, looping: bool) -> Self {
        self.looping = looping;
        self
    }

    /// Total samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether the file has no samples.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }
}

impl AudioSource for WavSource {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn read(&mut self, frame: &mut [i16]) -> usize {
        let mut written = 0;
        while written < frame.len() {
            if self.pos >= self.samples.len() {
                if !self.looping || self.samples.is_empty() {
                    break;
                }
                self.pos = 0;
            }
            let n = (frame.len() - written).min(self.samples.len() - self.pos);
            frame[written..written + n].copy_from_slice(&self.samples[self.pos..self.pos + n]);
            written += n;
            self.pos += n;
        }
        written
    }
}

/// Records what it is given to a mono 16-bit WAV file. Call [`WavRecorder::finalize`] to write
/// the header's lengths; a write error is kept and returned there.
pub struct WavRecorder<W: Write + Seek + Send = BufWriter<File>> {
    sample_rate: u32,
    writer: Option<hound::WavWriter<W>>,
    error: Option<hound::Error>,
}

fn wav_spec(sample_rate: u32) -> hound::WavSpec {
    hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    }
}

impl WavRecorder {
    /// Creates (truncates) a WAV file at `path`.
    pub fn create(path: impl AsRef<Path>, sample_rate: u32) -> Result<Self, AudioError> {
        let writer = hound::WavWriter::create(path, wav_spec(sample_rate))?;
        Ok(Self {
            sample_rate,
            writer: Some(writer),
            error: None,
        })
    }
}

impl<W: Write + Seek + Send> WavRecorder<W> {
    /// Records into any seekable writer.
    pub fn new(writer: W, sample_rate: u32) -> Result<Self, AudioError> {
        let writer = hound::WavWriter::new(writer, wav_spec(sample_rate))?;
        Ok(Self {
            sample_rate,
            writer: Some(writer),
            error: None,
        })
    }

    /// Writes the final header; returns the first error met while recording, if any.
    pub fn finalize(mut self) -> Result<(), AudioError> {
        if let Some(e) = self.error.take() {
            return Err(e.into());
        }
        match self.writer.take() {
            Some(w) => Ok(w.finalize()?),
            None => Ok(()),
        }
    }
}

impl<W: Write + Seek + Send> AudioSink for WavRecorder<W> {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn write(&mut self, frame: &[i16]) {
        let Some(w) = self.writer.as_mut() else {
            return;
        };
        for &s in frame {
            if let Err(e) = w.write_sample(s) {
                self.error = Some(e);
                self.writer = None;
                return;
            }
        }
    }
}

/// A sink that drops everything.
#[derive(Debug, Clone)]
pub struct NullSink {
    sample_rate: u32,
}

impl NullSink {
    /// A null sink at `sample_rate`.
    pub fn new(sample_rate: u32) -> Self {
        Self { sample_rate }
    }
}

impl AudioSink for NullSink {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn write(&mut self, _frame: &[i16]) {}
}

/// A sink that appends to a shared buffer; clone the [`BufferSink::handle`] to read what was
/// received (tests, level meters, the demo's tone check).
#[derive(Debug, Clone)]
pub struct BufferSink {
    sample_rate: u32,
    buf: Arc<Mutex<Vec<i16>>>,
}

/// A reader of a [`BufferSink`]'s samples.
#[derive(Debug, Clone)]
pub struct BufferHandle(Arc<Mutex<Vec<i16>>>);

impl BufferHandle {
    /// The samples so far.
    pub fn samples(&self) -> Vec<i16> {
        lock(&self.0).clone()
    }

    /// Takes the samples so far, leaving the buffer empty.
    pub fn take(&self) -> Vec<i16> {
        std::mem::take(&mut *lock(&self.0))
    }
}

fn lock(m: &Mutex<Vec<i16>>) -> MutexGuard<'_, Vec<i16>> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl BufferSink {
    /// A buffer sink at `sample_rate`.
    pub fn new(sample_rate: u32) -> Self {
        Self {
            sample_rate,
            buf: Arc::default(),
        }
    }

    /// A handle to read the samples.
    pub fn handle(&self) -> BufferHandle {
        BufferHandle(Arc::clone(&self.buf))
    }
}

impl AudioSink for BufferSink {
    fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    fn write(&mut self, frame: &[i16]) {
        lock(&self.buf).extend_from_slice(frame);
    }
}

/// The power of `samples` at `frequency`, normalised so a full-window sine of amplitude `a`
/// gives about `a²/2` (the Goertzel algorithm: one DFT bin in O(n)).
pub fn goertzel_power(samples: &[i16], sample_rate: u32, frequency: f32) -> f64 {
    if samples.is_empty() || sample_rate == 0 {
        return 0.0;
    }
    let w = TAU * f64::from(frequency) / f64::from(sample_rate);
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0.0f64, 0.0f64);
    for &x in samples {
        let s0 = f64::from(x) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let mag2 = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    let n = samples.len() as f64;
    2.0 * mag2 / (n * n)
}

/// The frequency of the tone that dominates `samples`, or `None` for silence, noise or a mix
/// where no single tone carries at least half the energy.
///
/// A coarse Goertzel scan over a short window finds the peak to ±10 Hz; a fine scan over up to
/// two seconds narrows it to a fraction of a hertz. Meant for test signals (a sine of a
/// known-ish frequency), not for DTMF detection.
pub fn tone_frequency(samples: &[i16], sample_rate: u32) -> Option<f32> {
    let mean_sq = samples
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / samples.len().max(1) as f64;
    if samples.len() < 64 || sample_rate == 0 || mean_sq < 1.0 {
        return None;
    }
    let nyquist = sample_rate as f32 / 2.0;
    let coarse_len = (sample_rate as usize / 20).min(samples.len()); // 50 ms: ~20 Hz main lobe
    let coarse = &samples[..coarse_len];
    let mut best = (0.0f32, 0.0f64);
    let mut f = 20.0f32;
    while f < nyquist - 20.0 {
        let p = goertzel_power(coarse, sample_rate, f);
        if p > best.1 {
            best = (f, p);
        }
        f += 5.0;
    }
    let fine = &samples[..samples.len().min(sample_rate as usize * 2)];
    let mut best_fine = (best.0, 0.0f64);
    let mut f = best.0 - 15.0;
    while f <= best.0 + 15.0 {
        let p = goertzel_power(fine, sample_rate, f);
        if p > best_fine.1 {
            best_fine = (f, p);
        }
        f += 0.25;
    }
    let fine_mean_sq = fine
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / fine.len() as f64;
    (best_fine.1 >= 0.5 * fine_mean_sq).then_some(best_fine.0)
}

#[cfg(test)]
mod tests {

    #[test]
    fn channel_source_plays_queued_frames_then_silence_then_ends() {
        let (mut src, tx) = ChannelSource::new(8000);
        tx.send(vec![1, 2, 3]).unwrap();
        tx.send(vec![4, 5]).unwrap();
        let mut f = [9i16; 4];
        assert_eq!(src.read(&mut f), 4);
        assert_eq!(f, [1, 2, 3, 4]);
        assert_eq!(src.read(&mut f), 4);
        assert_eq!(f, [5, 0, 0, 0], "silence while nothing is queued");
        drop(tx);
        assert_eq!(src.read(&mut f), 0, "ended once the senders are gone");
    }

    #[test]
    fn channel_sink_hands_frames_over() {
        let (mut sink, rx) = ChannelSink::new(8000);
        sink.write(&[7, 8]);
        sink.write(&[9]);
        assert_eq!(rx.try_recv().unwrap(), [7, 8]);
        assert_eq!(rx.try_recv().unwrap(), [9]);
        drop(rx);
        sink.write(&[1]); // no panic without a receiver
    }

    use super::*;

    fn tone(freq: f32, n: usize) -> Vec<i16> {
        let mut src = ToneSource::new(8000, freq, -6.0);
        let mut v = vec![0; n];
        assert_eq!(src.read(&mut v), n);
        v
    }

    #[test]
    fn tone_source_has_the_right_level_and_frequency() {
        let v = tone(440.0, 8000);
        let peak = v.iter().map(|s| s.unsigned_abs()).max().unwrap();
        assert!((16300..=16500).contains(&peak), "peak {peak}");
        for f in [300.0, 440.0, 880.0, 1000.0, 3400.0] {
            let got = tone_frequency(&tone(f, 8000), 8000).unwrap();
            assert!((got - f).abs() < 1.0, "{f} -> {got}");
        }
    }

    #[test]
    fn no_tone_in_silence_or_noise() {
        assert_eq!(tone_frequency(&[0; 8000], 8000), None);
        let mut x = 12345u32;
        let noise: Vec<i16> = (0..8000)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x >> 16) as i16
            })
            .collect();
        assert_eq!(tone_frequency(&noise, 8000), None);
        assert_eq!(tone_frequency(&[], 8000), None);
    }

    #[test]
    fn silence_and_wav_sources() {
        let mut s = SilenceSource::new(8000);
        let mut f = [1i16; 160];
        assert_eq!(s.read(&mut f), 160);
        assert!(f.iter().all(|&x| x == 0));

        let mut w = WavSource::from_samples(8000, vec![1, 2, 3]);
        let mut f = [0i16; 2];
        assert_eq!(w.read(&mut f), 2);
        assert_eq!(w.read(&mut f), 1);
        assert_eq!(w.read(&mut f), 0);
        let mut w = WavSource::from_samples(8000, vec![1, 2, 3]).looping(true);
        let mut f = [0i16; 5];
        assert_eq!(w.read(&mut f), 5);
        assert_eq!(f, [1, 2, 3, 1, 2]);
    }

    #[test]
    fn wav_round_trip_through_recorder_and_source() {
        let mut cursor = std::io::Cursor::new(Vec::new());
        {
            let mut rec = WavRecorder::new(&mut cursor, 8000).unwrap();
            rec.write(&tone(440.0, 4000));
            rec.write(&tone(440.0, 4000));
            rec.finalize().unwrap();
        }
        cursor.set_position(0);
        let src = WavSource::from_reader(cursor).unwrap();
        assert_eq!((src.sample_rate(), src.len()), (8000, 8000));
        let mut src = src;
        let mut all = vec![0; 8000];
        src.read(&mut all);
        assert!((tone_frequency(&all, 8000).unwrap() - 440.0).abs() < 1.0);
    }

    #[test]
    fn wav_file_on_disk() {
        let path =
            std::env::temp_dir().join(format!("sipline-media-test-{}.wav", std::process::id()));
        let mut rec = WavRecorder::create(&path, 8000).unwrap();
        rec.write(&[1, -1, 2]);
        rec.finalize().unwrap();
        let src = WavSource::open(&path).unwrap();
        assert_eq!(src.len(), 3);
        let _ = std::fs::remove_file(&path);
        assert!(matches!(WavSource::open(&path), Err(AudioError::Wav(_))));
    }

    #[test]
    fn buffer_sink_shares_samples() {
        let mut sink = BufferSink::new(8000);
        let h = sink.handle();
        sink.write(&[1, 2]);
        sink.write(&[3]);
        assert_eq!(h.samples(), [1, 2, 3]);
        assert_eq!(h.take(), [1, 2, 3]);
        assert!(h.samples().is_empty());
    }
}
