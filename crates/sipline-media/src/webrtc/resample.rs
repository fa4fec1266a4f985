//! Mono sample-rate conversion between an [`AudioSource`](crate::AudioSource) or
//! [`AudioSink`](crate::AudioSink) and a codec's rate.
//!
//! Deliberately simple, streaming and allocation-free per frame:
//! - same rate: a copy;
//! - down by an integer factor (48000 -> 8000 is 6): the mean of each block of `factor` input
//!   samples, a boxcar low-pass that removes most of what would alias;
//! - anything else (up, or a non-integer ratio such as 44100 -> 48000): linear interpolation
//!   with the fractional position carried from one frame to the next, so frame boundaries
//!   leave no clicks.
//!
//! Good enough for speech at telephony rates; not a studio resampler.

/// A streaming mono resampler from one fixed rate to another.
#[derive(Debug, Clone)]
pub(crate) struct Resampler {
    from: u32,
    to: u32,
    /// The last input sample of the previous chunk (index 0 of the virtual array).
    last: f32,
    /// The position of the next output sample in the virtual array `[last, chunk...]`, in
    /// units of 1/`to` input samples (exact: no drift over a long call).
    pos: u64,
    /// Partial block carried over by the integer decimator.
    acc: (i32, u32),
}

impl Resampler {
    /// A resampler from `from` Hz to `to` Hz (both non-zero; zero is treated as 8000).
    pub(crate) fn new(from: u32, to: u32) -> Self {
        let from = if from == 0 { 8000 } else { from };
        let to = if to == 0 { 8000 } else { to };
        Self {
            from,
            to,
            last: 0.0,
            pos: 0,
            acc: (0, 0),
        }
    }

    /// The input rate.
    pub(crate) fn input_rate(&self) -> u32 {
        self.from
    }

    /// The output rate.
    pub(crate) fn output_rate(&self) -> u32 {
        self.to
    }

    /// Converts `input` and appends the result to `out`.
    pub(crate) fn process(&mut self, input: &[i16], out: &mut Vec<i16>) {
        if self.from == self.to {
            out.extend_from_slice(input);
            return;
        }
        if self.from > self.to && self.from.is_multiple_of(self.to) {
            let factor = self.from / self.to;
            let (mut sum, mut n) = self.acc;
            for &s in input {
                sum += i32::from(s);
                n += 1;
                if n == factor {
                    out.push((sum / factor as i32) as i16);
                    sum = 0;
                    n = 0;
                }
            }
            self.acc = (sum, n);
            return;
        }
        // Linear interpolation over v = [last, input[0], input[1], ...].
        let to = u64::from(self.to);
        let end = input.len() as u64 * to;
        let at = |i: usize, last: f32| -> f32 {
            if i == 0 {
                last
            } else {
                f32::from(input.get(i - 1).copied().unwrap_or(0))
            }
        };
        while self.pos < end {
            let i = (self.pos / to) as usize;
            let frac = (self.pos % to) as f32 / to as f32;
            let a = at(i, self.last);
            let b = at(i + 1, self.last);
            let v = a + (b - a) * frac;
            out.push(v.round().clamp(-32768.0, 32767.0) as i16);
            self.pos += u64::from(self.from);
        }
        self.pos -= end;
        if let Some(&l) = input.last() {
            self.last = f32::from(l);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::{AudioSource, ToneSource, tone_frequency};

    fn tone(rate: u32, freq: f32, n: usize) -> Vec<i16> {
        let mut v = vec![0; n];
        ToneSource::new(rate, freq, -10.0).read(&mut v);
        v
    }

    fn run(from: u32, to: u32, input: &[i16], chunk: usize) -> Vec<i16> {
        let mut r = Resampler::new(from, to);
        let mut out = Vec::new();
        for c in input.chunks(chunk) {
            r.process(c, &mut out);
        }
        out
    }

    #[test]
    fn up_and_down_by_six_keep_length_and_pitch() {
        let x = tone(8000, 440.0, 8000);
        let up = run(8000, 48000, &x, 160);
        assert_eq!(up.len(), 48000);
        let f = tone_frequency(&up, 48000).unwrap_or(0.0);
        assert!((f - 440.0).abs() < 5.0, "{f}");
        let down = run(48000, 8000, &up, 960);
        assert_eq!(down.len(), 8000);
        let f = tone_frequency(&down, 8000).unwrap_or(0.0);
        assert!((f - 440.0).abs() < 5.0, "{f}");
    }

    #[test]
    fn non_integer_ratio_and_identity() {
        let x = tone(44100, 1000.0, 44100);
        let y = run(44100, 48000, &x, 441);
        assert!((47990..=48010).contains(&y.len()), "{}", y.len());
        let f = tone_frequency(&y, 48000).unwrap_or(0.0);
        assert!((f - 1000.0).abs() < 10.0, "{f}");
        assert_eq!(run(8000, 8000, &x[..100], 7), x[..100].to_vec());
        let r = Resampler::new(8000, 48000);
        assert_eq!((r.input_rate(), r.output_rate()), (8000, 48000));
    }
}
