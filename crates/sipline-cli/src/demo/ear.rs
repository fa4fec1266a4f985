//! What each party hears: a recording sink that marks where each phase of the script
//! starts, WAV files written from it, and the check of a phase: the tone's frequency (RTP
//! audio, RFC 3550/3551, decoded), or silence.

use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};

use sipline::{AudioSink, WavRecorder, tone_frequency};

use crate::common::RATE;

/// Below this RMS level (about -50 dBFS) a stretch of audio counts as silence.
const SILENCE_RMS: f64 = 100.0;

/// A recording shared between the session (which writes) and the script (which marks).
#[derive(Clone, Default)]
pub(crate) struct Ear(Arc<Mutex<Vec<i16>>>);

impl Ear {
    fn lock(&self) -> MutexGuard<'_, Vec<i16>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A sink writing into this recording.
    pub(crate) fn sink(&self) -> Box<dyn AudioSink> {
        Box::new(self.clone())
    }

    /// Where the recording is now (in samples): a phase starts or ends here.
    pub(crate) fn mark(&self) -> usize {
        self.lock().len()
    }

    /// Everything recorded so far.
    pub(crate) fn samples(&self) -> Vec<i16> {
        self.lock().clone()
    }
}

impl AudioSink for Ear {
    fn sample_rate(&self) -> u32 {
        RATE
    }

    fn write(&mut self, frame: &[i16]) {
        self.lock().extend_from_slice(frame);
    }
}

/// A phase of a recording: from `start` to `end` (samples).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Phase {
    /// The first sample.
    pub(crate) start: usize,
    /// One past the last.
    pub(crate) end: usize,
}

impl Phase {
    /// The phase between two marks, without its first `settle_ms` (what was still in
    /// flight or in the jitter buffer when the phase began).
    pub(crate) fn between(start: usize, end: usize, settle_ms: usize) -> Self {
        let start = (start + settle_ms * RATE as usize / 1000).min(end);
        Self { start, end }
    }

    /// The same phase in a recording that starts `offset` samples later.
    pub(crate) fn shifted(self, offset: usize) -> Self {
        Self {
            start: self.start + offset,
            end: self.end + offset,
        }
    }
}

/// What a stretch of audio sounds like.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Heard {
    /// Too little audio arrived to tell (under 100 ms).
    Nothing,
    /// Quiet.
    Silence,
    /// A tone of this frequency (Hz).
    Tone(f32),
    /// Sound without one dominant frequency.
    Noise,
}

impl Heard {
    /// A tone within ±5 Hz of `hz`.
    pub(crate) fn is_tone(self, hz: f32) -> bool {
        matches!(self, Heard::Tone(f) if (f - hz).abs() <= 5.0)
    }

    /// Silence or no audio at all (a muted sender may send nothing).
    pub(crate) fn is_quiet(self) -> bool {
        matches!(self, Heard::Silence | Heard::Nothing)
    }
}

impl std::fmt::Display for Heard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Heard::Nothing => f.write_str("no audio"),
            Heard::Silence => f.write_str("silence"),
            Heard::Tone(hz) => write!(f, "{hz:.0} Hz"),
            Heard::Noise => f.write_str("sound without a clear tone"),
        }
    }
}

/// What `phase` of `samples` sounds like.
pub(crate) fn listen(samples: &[i16], phase: Phase) -> Heard {
    let end = phase.end.min(samples.len());
    let part = samples.get(phase.start.min(end)..end).unwrap_or(&[]);
    if part.len() < RATE as usize / 10 {
        return Heard::Nothing;
    }
    let mean_sq = part
        .iter()
        .map(|&s| f64::from(s) * f64::from(s))
        .sum::<f64>()
        / part.len() as f64;
    if mean_sq.sqrt() < SILENCE_RMS {
        return Heard::Silence;
    }
    tone_frequency(part, RATE).map_or(Heard::Noise, Heard::Tone)
}

/// Writes `samples` as a mono 16-bit WAV file at 8 kHz.
pub(crate) fn write_wav(path: &Path, samples: &[i16]) -> Result<(), String> {
    let mut rec =
        WavRecorder::create(path, RATE).map_err(|e| format!("{}: {e}", path.display()))?;
    rec.write(samples);
    rec.finalize()
        .map_err(|e| format!("{}: {e}", path.display()))
}

/// Reads a WAV file written by [`write_wav`] back.
pub(crate) fn read_wav(path: &Path) -> Result<Vec<i16>, String> {
    let mut r = hound::WavReader::open(path).map_err(|e| format!("{}: {e}", path.display()))?;
    r.samples::<i16>()
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use sipline::{AudioSource, ToneSource};

    fn tone(hz: f32, ms: usize) -> Vec<i16> {
        let mut src = ToneSource::new(RATE, hz, -10.0);
        let mut out = vec![0i16; ms * 8];
        src.read(&mut out);
        out
    }

    #[test]
    fn phases_of_a_recording_tell_tones_from_silence() {
        let mut ear = Ear::default();
        ear.write(&tone(660.0, 1000));
        let m1 = ear.mark();
        ear.write(&vec![0; 8000]);
        let m2 = ear.mark();
        ear.write(&tone(880.0, 1000));
        let all = ear.samples();
        let first = listen(&all, Phase::between(0, m1, 200));
        assert!(first.is_tone(660.0), "{first}");
        assert!(!first.is_tone(880.0));
        assert!(listen(&all, Phase::between(m1, m2, 200)).is_quiet());
        let last = listen(&all, Phase::between(m2, all.len(), 200));
        assert!(last.is_tone(880.0), "{last}");
        // Too short to tell.
        assert_eq!(listen(&all, Phase::between(0, 700, 0)), Heard::Nothing);
        assert_eq!(
            listen(&all, Phase::between(m2, m2 + 8000, 2000)),
            Heard::Nothing
        );
        assert_eq!(format!("{}", Heard::Tone(659.6)), "660 Hz");
    }

    #[test]
    fn a_wav_round_trip_keeps_the_samples() {
        let dir = std::env::temp_dir().join(format!("sipline-ear-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("t.wav");
        let samples = tone(440.0, 300);
        write_wav(&path, &samples).unwrap();
        assert_eq!(read_wav(&path).unwrap(), samples);
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(read_wav(&path).is_err());
    }
}
