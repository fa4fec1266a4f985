// What sipjs.js and jssip.js share: the URL parameters, the result they report, a tap on the
// SIP messages going over the WebSocket, WebRTC statistics and the frequency of what we hear.
//
// The test (crates/sipline-cli/tests/browser.rs) reads Chromium's console on stderr:
//   SIPLINE-EVENT <name>          progress (e.g. "registered", which the test waits for)
//   SIPLINE-RESULT {json}         the outcome, once

export const params = new URLSearchParams(location.search);

/**
 * The microphone as the tests want it: the fake capture (a steady tone) as is. Chromium's
 * noise suppression and gain control otherwise fade a steady tone out within seconds
 * (measured: -8 dBFS at the start, -34 dBFS after 2 s), and echo cancellation eats it too.
 */
export const AUDIO = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };

/** A URL parameter, or `fallback`. */
export function param(name, fallback = "") {
  return params.get(name) ?? fallback;
}

/** Everything the page reports. */
export const result = {
  lib: "",
  mode: param("mode", "call"),
  registered: false,
  // Session states reached, in order (SIP.js names; JsSIP events mapped onto them).
  states: [],
  established: false,
  // Status codes of the responses we received and sent, in order.
  statusesReceived: [],
  statusesSent: [],
  // Methods of the requests we received and sent, in order.
  requestsReceived: [],
  requestsSent: [],
  // DTMF tones received (INFO application/dtmf-relay; a browser cannot observe RFC 4733
  // telephone-events it receives) and sent.
  dtmfReceived: "",
  dtmfSent: "",
  // "browser" or "remote": who sent the BYE (null: nobody).
  hungUpBy: null,
  // The last getStats() snapshot while the call was up.
  stats: null,
  // The dominant frequency of the received audio (Web Audio analyser), in Hz.
  heardHz: null,
  errors: [],
};

export function event(name) {
  console.log("SIPLINE-EVENT " + name);
}

export function state(s) {
  if (result.states[result.states.length - 1] !== s) {
    result.states.push(s);
  }
  if (s === "Established") {
    result.established = true;
  }
  event("state " + s);
}

export function error(e) {
  result.errors.push(String(e && e.message ? e.message : e));
}
window.addEventListener("error", (e) => error(e.message));
window.addEventListener("unhandledrejection", (e) => error(e.reason));

/** Notes one SIP message crossing the WebSocket ("in" or "out"). */
export function tap(direction, message) {
  if (typeof message !== "string") {
    return;
  }
  const first = message.slice(0, message.indexOf("\r\n"));
  const status = /^SIP\/2\.0 (\d{3})/.exec(first);
  if (status) {
    (direction === "in" ? result.statusesReceived : result.statusesSent).push(Number(status[1]));
    return;
  }
  const method = first.split(" ")[0];
  if (!/^[A-Z]+$/.test(method)) {
    return; // a keep-alive
  }
  (direction === "in" ? result.requestsReceived : result.requestsSent).push(method);
  if (method === "BYE" && result.hungUpBy === null) {
    result.hungUpBy = direction === "in" ? "remote" : "browser";
  }
}

/** Keeps a fresh getStats() snapshot of `pc` while it is open. */
export function watchStats(pc) {
  const take = async () => {
    if (pc.connectionState === "closed") {
      return;
    }
    const s = { connectionState: pc.connectionState };
    (await pc.getStats()).forEach((r) => {
      if (r.type === "inbound-rtp" && r.kind === "audio") {
        Object.assign(s, {
          packetsReceived: r.packetsReceived,
          bytesReceived: r.bytesReceived,
          audioLevel: r.audioLevel,
          totalAudioEnergy: r.totalAudioEnergy,
          codecId: r.codecId,
        });
      } else if (r.type === "outbound-rtp" && r.kind === "audio") {
        s.packetsSent = r.packetsSent;
      } else if (r.type === "inbound-rtp" && r.kind === "video") {
        s.video = Object.assign(s.video || {}, {
          packetsReceived: r.packetsReceived,
          framesReceived: r.framesReceived,
          framesDecoded: r.framesDecoded,
          keyFramesDecoded: r.keyFramesDecoded,
          frameWidth: r.frameWidth,
          codecId: r.codecId,
        });
      } else if (r.type === "outbound-rtp" && r.kind === "video") {
        s.video = Object.assign(s.video || {}, { framesSent: r.framesSent });
      }
    });
    if (s.codecId || (s.video && s.video.codecId)) {
      (await pc.getStats()).forEach((r) => {
        if (r.id === s.codecId) {
          s.codec = r.mimeType;
        }
        if (s.video && r.id === s.video.codecId) {
          s.video.codec = r.mimeType;
        }
      });
    }
    result.stats = s;
  };
  const timer = setInterval(() => take().catch(error), 250);
  pc.addEventListener("connectionstatechange", () => {
    if (pc.connectionState === "closed") {
      clearInterval(timer);
    }
  });
}

/** Plays `stream` (so Chromium decodes it) and tracks its dominant frequency. */
export function listen(stream) {
  const audio = new Audio();
  audio.srcObject = stream;
  audio.play().catch(error);
  if (stream.getVideoTracks().length > 0) {
    // A video element gives the received video a sink: Chromium decodes it then.
    const video = document.createElement("video");
    video.muted = true;
    video.autoplay = true;
    video.srcObject = new MediaStream(stream.getVideoTracks());
    document.body.appendChild(video);
    video.play().catch(error);
  }
  const ctx = new AudioContext();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 8192;
  ctx.createMediaStreamSource(stream).connect(analyser);
  const bins = new Float32Array(analyser.frequencyBinCount);
  setInterval(() => {
    analyser.getFloatFrequencyData(bins);
    let best = 0;
    for (let i = 1; i < bins.length; i++) {
      if (bins[i] > bins[best]) {
        best = i;
      }
    }
    // Silence reads as -Infinity (or very low): no tone.
    if (bins[best] > -80) {
      result.heardHz = Math.round((best * ctx.sampleRate) / analyser.fftSize);
    }
  }, 250);
}

let reported = false;

/** Prints the result, once. */
export function report() {
  if (!reported) {
    reported = true;
    console.log("SIPLINE-RESULT " + JSON.stringify(result));
  }
}

/** Reports after `timeout` seconds (URL parameter, default 20) whatever happened. */
export function reportAfterTimeout() {
  setTimeout(report, Number(param("timeout", "20")) * 1000);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
