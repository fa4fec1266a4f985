//! The baresip (Debian `baresip-core`) harness shared by the library's and the CLI's interop
//! tests: finding baresip and its modules, a free SIP port, a running baresip with its own
//! config directory (auto- or manual-answer, an 880 Hz `ausine` source, a `sndfile` dump of
//! the decoded audio, driven through stdin), killed by its pid on every path, and reading
//! WAVs and measuring their tone.
//!
//! `SIPLINE_BARESIP_TRACE=1` makes baresip print every SIP message (`-s`).

use std::fs::File;
use std::net::{TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use sipline::tone_frequency;
use tokio::io::AsyncWriteExt;
use tokio::process::{Child, ChildStdin, Command};
use tokio::time::timeout;

/// The tone sipline plays.
pub const SIPLINE_HZ: f32 = 440.0;
/// The sine baresip plays (its `ausine` source).
pub const BARESIP_HZ: f32 = 880.0;

/// The baresip binary; a test fails with how to install it when it is missing.
pub fn baresip_path() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("baresip"))
        .find(|p| p.is_file())
        .unwrap_or_else(|| {
            panic!(
                "baresip is not installed: `apt-get install baresip-core` \
                 (scripts/test does it for you)"
            )
        })
}

/// The directory of baresip's modules.
pub fn module_path() -> PathBuf {
    ["/usr/lib/baresip/modules", "/usr/local/lib/baresip/modules"]
        .iter()
        .map(PathBuf::from)
        .find(|d| d.join("g711.so").is_file())
        .unwrap_or_else(|| {
            panic!("baresip's modules (g711.so) are missing: `apt-get install baresip-core`")
        })
}

/// A port free for UDP and TCP whose next port is free too (baresip binds TLS on port + 1).
pub fn free_sip_port() -> u16 {
    loop {
        let t = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = t.local_addr().unwrap().port();
        if port < u16::MAX
            && UdpSocket::bind(("127.0.0.1", port)).is_ok()
            && TcpListener::bind(("127.0.0.1", port + 1)).is_ok()
        {
            return port;
        }
    }
}

/// A running baresip with its own config directory, killed by its pid when dropped.
pub struct Baresip {
    child: Option<Child>,
    stdin: Option<ChildStdin>,
    dir: PathBuf,
    pub port: u16,
}

impl Baresip {
    /// Starts baresip as `bob` on 127.0.0.1 (auto-answering), playing an 880 Hz sine,
    /// dumping the decoded audio to WAV; `dial` is a URI to call at once.
    pub fn start(dial: Option<&str>) -> Baresip {
        Self::start_with(dial, "auto")
    }

    /// [`Baresip::start`] with an `answermode` (`auto` or `manual`).
    pub fn start_with(dial: Option<&str>, answermode: &str) -> Baresip {
        let binary = baresip_path();
        let port = free_sip_port();
        let dir =
            std::env::temp_dir().join(format!("sipline-baresip-{}-{port}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("snd")).unwrap();
        let config = format!(
            "poll_method epoll\n\
             module_path {modules}\n\
             sip_listen 127.0.0.1:{port}\n\
             net_interface 127.0.0.1\n\
             call_local_timeout 120\n\
             audio_player alsa,null\n\
             audio_alert alsa,null\n\
             audio_source ausine,{hz}\n\
             ausrc_srate 48000\n\
             ausrc_channels 2\n\
             jitter_buffer_delay 1-10\n\
             snd_path {snd}\n\
             module stdio.so\n\
             module g711.so\n\
             module sndfile.so\n\
             module alsa.so\n\
             module ausine.so\n\
             module_tmp account.so\n\
             module_app menu.so\n",
            modules = module_path().display(),
            hz = BARESIP_HZ as u32,
            snd = dir.join("snd").display(),
        );
        std::fs::write(dir.join("config"), config).unwrap();
        std::fs::write(
            dir.join("accounts"),
            format!("<sip:bob@127.0.0.1:{port}>;regint=0;answermode={answermode}\n"),
        )
        .unwrap();
        std::fs::write(dir.join("contacts"), "").unwrap();
        let log = File::create(dir.join("out.log")).unwrap();
        let mut cmd = Command::new(binary);
        cmd.arg("-f").arg(&dir).args(["-t", "60"]);
        if std::env::var_os("SIPLINE_BARESIP_TRACE").is_some() {
            cmd.arg("-s"); // baresip prints every SIP message it sends and receives
        }
        if let Some(uri) = dial {
            cmd.arg("-e").arg(format!("/dial {uri}"));
        }
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .kill_on_drop(true)
            .spawn()
            .expect("start baresip");
        let stdin = child.stdin.take();
        Baresip {
            child: Some(child),
            stdin,
            dir,
            port,
        }
    }

    /// Everything baresip printed so far (colour codes removed).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("out.log"))
            .unwrap_or_default()
            .replace('\u{1b}', "")
    }

    /// Waits at most `limit` for `needle` in baresip's output.
    pub async fn wait_for(&self, needle: &str, limit: Duration) {
        let found = timeout(limit, async {
            while !self.log().contains(needle) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(
            found.is_ok(),
            "baresip did not print {needle:?} within {limit:?}\n--- baresip ---\n{}",
            self.log()
        );
    }

    /// Types keys on baresip's console (its `stdio` module reads stdin): a digit during a
    /// call sends DTMF, `/command\n` runs a command.
    pub async fn type_keys(&mut self, keys: &str) {
        let stdin = self.stdin.as_mut().expect("baresip's stdin");
        stdin.write_all(keys.as_bytes()).await.unwrap();
        stdin.flush().await.unwrap();
    }

    /// Tells baresip to quit and waits at most `limit` for it to exit.
    pub async fn quit(&mut self, limit: Duration) -> ExitStatus {
        self.type_keys("/quit\n").await;
        let child = self.child.as_mut().expect("baresip already stopped");
        match timeout(limit, child.wait()).await {
            Ok(status) => {
                self.child = None;
                status.unwrap()
            }
            Err(_) => panic!(
                "baresip did not exit within {limit:?} of /quit\n--- baresip ---\n{}",
                self.log()
            ),
        }
    }

    /// The audio baresip decoded from what it received (its sndfile `*-dec.wav`), mono.
    pub fn decoded_audio(&self) -> (Vec<i16>, u32) {
        let wav = std::fs::read_dir(self.dir.join("snd"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.to_string_lossy().ends_with("-dec.wav"))
            .unwrap_or_else(|| {
                panic!(
                    "baresip wrote no decoded-audio WAV\n--- baresip ---\n{}",
                    self.log()
                )
            });
        read_wav(&wav)
    }
}

impl Drop for Baresip {
    fn drop(&mut self) {
        if let Some(child) = &mut self.child {
            // By pid (tokio's Child), never by name.
            let _ = child.start_kill();
        }
        if std::thread::panicking() {
            eprintln!("--- baresip output ---\n{}", self.log());
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A WAV's first channel as 16-bit samples, and its rate.
pub fn read_wav(path: &Path) -> (Vec<i16>, u32) {
    let mut reader =
        hound::WavReader::open(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()));
    let spec = reader.spec();
    assert_eq!(spec.bits_per_sample, 16, "{spec:?}");
    let channels = usize::from(spec.channels);
    let samples: Vec<i16> = reader
        .samples::<i16>()
        .map(Result::unwrap)
        .step_by(channels)
        .collect();
    (samples, spec.sample_rate)
}

/// The frequency of the tone in `samples`, after the leading silence (jitter buffers fill
/// with silence before the first packet plays out) and 100 ms more.
pub fn heard(samples: &[i16], rate: u32) -> Option<f32> {
    let start = samples.iter().position(|s| s.unsigned_abs() > 500)?;
    let skip = (start + rate as usize / 10).min(samples.len());
    tone_frequency(&samples[skip..], rate)
}

pub fn assert_tone(what: &str, samples: &[i16], rate: u32, want: f32) -> f32 {
    let got = heard(samples, rate);
    match got {
        Some(hz) if (hz - want).abs() <= 5.0 => {
            eprintln!("{what}: {hz} Hz (want {want} Hz ± 5)");
            hz
        }
        _ => panic!(
            "{what}: heard {got:?} Hz, want {want} Hz ± 5 ({} samples at {rate} Hz)",
            samples.len()
        ),
    }
}
