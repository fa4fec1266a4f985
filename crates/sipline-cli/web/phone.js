// The browser phone of `sipline serve --web`: SIP.js 0.21 (UserAgent, Registerer, Inviter)
// over WebSocket (RFC 7118) with WebRTC audio. Bundled by esbuild into dist/phone.js (the
// committed bundle; `npm run build`, checked by `npm run check`).
//
// The server's WebSocket URL and SIP domain come from /config.json ({"wsUrl", "domain"}), so
// that the page works with no typing. A person registers, dials a URI (or just a user name,
// completed with the domain), answers an incoming call, sends DTMF by SIP INFO
// (application/dtmf-relay), mutes, transfers (REFER, RFC 3515) and hangs up.
//
// URL parameters (automation; every one optional):
//   user=alice password=secret  the account (SIP address sip:USER@DOMAIN; uri= overrides it);
//                               with user= the page registers at once
//   ws=ws://HOST:PORT domain=D  override /config.json
//   register=0                  do not register (calls go out unregistered)
//   call=sip:bob@D              call this once registered (or at once with register=0)
//   autoanswer=1                answer incoming calls at once
//   talk=2000                   ms after the call is established before the steps below
//   dtmf=12                     tones sent by SIP INFO, 400 ms apart
//   mute=1500                   then mute the microphone for this long, then unmute
//   transfer=sip:carol@D        then transfer the other side there (REFER; once), and hang up
//   calls=1                     how many calls end before the result is printed
//   hangupAfter=6000            ms after the call is established: hang up
//   timeout=30                  seconds after which the result is printed whatever happened
//
// For tests, the console gets `SIPLINE-EVENT <what>` lines (progress) and, when the call ends
// (or at the timeout), one `SIPLINE-RESULT {json}` line: states reached, SIP statuses and
// requests seen on the WebSocket, DTMF sent/received, mute steps, the transfer's outcome, who
// hung up, the last getStats() numbers and the dominant frequency of the received audio.
import { Inviter, Registerer, RegistererState, SessionState, UserAgent } from "sip.js";

const params = new URLSearchParams(location.search);
const param = (name, fallback = "") => params.get(name) ?? fallback;

/**
 * The microphone as it is: Chromium's echo cancellation, noise suppression and gain control
 * fade a steady tone out within seconds (and a phone test is mostly tones).
 */
const AUDIO = { echoCancellation: false, noiseSuppression: false, autoGainControl: false };
const MEDIA = { constraints: { audio: AUDIO, video: false } };

const $ = (id) => document.getElementById(id);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// ---------------------------------------------------------------------------------------------
// What the page reports (tests read it from the console)

const result = {
  config: null,
  registered: false,
  states: [],
  established: false,
  callsEstablished: 0,
  callsEnded: 0,
  statusesReceived: [],
  statusesSent: [],
  requestsReceived: [],
  requestsSent: [],
  dtmfSent: "",
  dtmfReceived: "",
  mute: [],
  transfer: null,
  hungUpBy: null,
  stats: null,
  heardHz: null,
  heardPeakDb: null,
  errors: [],
};
let reported = false;

function report() {
  if (!reported) {
    reported = true;
    // What a person sees at that moment.
    result.ui = { registration: $("reg-state").textContent, call: $("call-state").textContent };
    console.log("SIPLINE-RESULT " + JSON.stringify(result));
  }
}

/** A progress line on the console and in the page's event list. */
function event(what) {
  console.log("SIPLINE-EVENT " + what);
  const li = document.createElement("li");
  li.textContent = new Date().toLocaleTimeString() + "  " + what;
  const log = $("log");
  log.prepend(li);
  while (log.children.length > 40) {
    log.lastChild.remove();
  }
}

function error(e) {
  const text = String(e && e.message ? e.message : e);
  result.errors.push(text);
  event("error " + text);
}
window.addEventListener("error", (e) => error(e.message));
window.addEventListener("unhandledrejection", (e) => error(e.reason));

/** Notes one SIP message crossing the WebSocket ("in" or "out"). */
function tap(direction, message) {
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

// ---------------------------------------------------------------------------------------------
// Audio: one AudioContext for the level meters, the frequency analysis and the ring tone

let audioCtx = null;

function audio() {
  if (!audioCtx) {
    audioCtx = new AudioContext();
  }
  if (audioCtx.state === "suspended") {
    audioCtx.resume().catch(() => {});
  }
  return audioCtx;
}
// Browsers start audio only after a gesture: any click will do.
document.addEventListener("click", () => audio(), { capture: true });

/** Shows the level of `stream` on the meter `id` until `stop()`; `onFrame(analyser)` too. */
function meter(id, stream, onFrame) {
  const ctx = audio();
  const analyser = ctx.createAnalyser();
  analyser.fftSize = 8192;
  const source = ctx.createMediaStreamSource(stream);
  source.connect(analyser);
  const samples = new Float32Array(analyser.fftSize);
  const bar = $(id);
  const label = $(id + "-db");
  const timer = setInterval(() => {
    analyser.getFloatTimeDomainData(samples);
    let sum = 0;
    for (const s of samples) {
      sum += s * s;
    }
    const db = Math.max(-70, 10 * Math.log10(sum / samples.length + 1e-12));
    bar.value = db;
    label.textContent = db <= -70 ? "silent" : db.toFixed(0) + " dBFS";
    if (onFrame) {
      onFrame(analyser, db);
    }
  }, 100);
  return () => {
    clearInterval(timer);
    source.disconnect();
    bar.value = -70;
    label.textContent = "–";
  };
}

/** Tracks the dominant frequency of what we hear (and the loudest level). */
function heard(analyser, db) {
  const bins = new Float32Array(analyser.frequencyBinCount);
  analyser.getFloatFrequencyData(bins);
  let best = 0;
  for (let i = 1; i < bins.length; i++) {
    if (bins[i] > bins[best]) {
      best = i;
    }
  }
  if (bins[best] > -80) {
    result.heardHz = Math.round((best * analyser.context.sampleRate) / analyser.fftSize);
  }
  if (result.heardPeakDb === null || db > result.heardPeakDb) {
    result.heardPeakDb = Math.round(db);
  }
}

/** Rings (the North American cadence, 440 + 480 Hz, 2 s on 4 s off) until `stop()`. */
function ring() {
  const ctx = audio();
  const gain = ctx.createGain();
  gain.gain.value = 0;
  gain.connect(ctx.destination);
  const tones = [440, 480].map((hz) => {
    const o = ctx.createOscillator();
    o.frequency.value = hz;
    o.connect(gain);
    o.start();
    return o;
  });
  let on = false;
  const cadence = () => {
    on = !on;
    gain.gain.setTargetAtTime(on ? 0.08 : 0, ctx.currentTime, 0.01);
    timer = setTimeout(cadence, on ? 2000 : 4000);
  };
  let timer = setTimeout(cadence, 0);
  return () => {
    clearTimeout(timer);
    tones.forEach((o) => o.stop());
    gain.disconnect();
  };
}

// ---------------------------------------------------------------------------------------------
// The account and the user agent

let config = { wsUrl: "", domain: "" };
let ua = null;
let uaKey = "";
let registerer = null;

/** `bob` -> `sip:bob@DOMAIN`; `bob@host` -> `sip:bob@host`; a URI as is. */
function completeUri(text) {
  const t = text.trim();
  if (/^sips?:/i.test(t)) {
    return t;
  }
  return t.includes("@") ? "sip:" + t : `sip:${t}@${config.domain}`;
}

function setRegState(text, kind) {
  const pill = $("reg-state");
  pill.textContent = text;
  pill.className = "pill " + kind;
}

/** The user agent for the account in the form (a new one when the account changed). */
async function userAgent() {
  const uri = completeUri($("uri").value);
  const password = $("password").value;
  const key = `${uri}\n${password}\n${config.wsUrl}`;
  if (ua && key === uaKey) {
    return ua;
  }
  if (ua) {
    await ua.stop().catch(error);
    ua = null;
    registerer = null;
  }
  const target = UserAgent.makeURI(uri);
  if (!target) {
    throw new Error("not a SIP address: " + uri);
  }
  const next = new UserAgent({
    uri: target,
    transportOptions: { server: config.wsUrl },
    authorizationUsername: password ? target.user : undefined,
    authorizationPassword: password || undefined,
    logLevel: "warn",
    sessionDescriptionHandlerFactoryOptions: {
      // Host candidates only (no STUN server on a loopback test; the server is the relay).
      peerConnectionConfiguration: { iceServers: [] },
      iceGatheringTimeout: 2000,
    },
    delegate: { onInvite: incoming },
  });
  const onMessage = next.transport.onMessage;
  next.transport.onMessage = (m) => {
    tap("in", m);
    onMessage(m);
  };
  const send = next.transport.send.bind(next.transport);
  next.transport.send = (m) => {
    tap("out", m);
    return send(m);
  };
  await next.start();
  event("connected " + config.wsUrl);
  ua = next;
  uaKey = key;
  return ua;
}

async function register() {
  const agent = await userAgent();
  if (!registerer) {
    registerer = new Registerer(agent, { expires: 600 });
    registerer.stateChange.addListener((s) => {
      if (s === RegistererState.Registered) {
        result.registered = true;
        setRegState("registered as " + agent.configuration.uri.user, "on");
        $("unregister").disabled = false;
        event("registered");
      } else if (s === RegistererState.Unregistered) {
        setRegState("not registered", "off");
        $("unregister").disabled = true;
        event("unregistered");
      }
    });
  }
  setRegState("registering…", "off");
  await new Promise((resolve, reject) => {
    registerer
      .register({
        requestDelegate: {
          onAccept: () => resolve(),
          onReject: (response) => {
            const code = response.message.statusCode;
            setRegState("registration refused (" + code + ")", "bad");
            reject(new Error("registration refused: " + code));
          },
        },
      })
      .catch(reject);
  });
}

async function unregister() {
  if (registerer) {
    await registerer.unregister();
  }
}

// ---------------------------------------------------------------------------------------------
// The call (one at a time)

let session = null;
let muted = false;
let stopMeters = [];
let stopRing = null;
let clock = null;

function callState(text) {
  $("call-state").textContent = text;
}

function inCallControls(up) {
  for (const b of $("keypad").querySelectorAll("button")) {
    b.disabled = !up;
  }
  $("mute").disabled = !up;
  $("refer").disabled = !up;
}

function showIncoming(caller) {
  $("caller").textContent = caller || "";
  $("incoming").hidden = !caller;
  document.title = caller ? "Ringing: " + caller : "sipline phone";
}

/** Follows one session (either direction) until it ends. */
function follow(s, peer) {
  session = s;
  $("call-peer").textContent = peer;
  $("hangup").disabled = false;
  $("call").disabled = true;
  s.delegate = {
    onInfo(info) {
      const signal = /Signal\s*=\s*(\S)/i.exec(info.request.body || "");
      if (signal) {
        result.dtmfReceived += signal[1];
        event("dtmf received " + signal[1]);
      }
      info.accept();
    },
    onRefer(referral) {
      // We are asked to call someone else: accept, and call them (RFC 3515 §2.4.2).
      const to = referral.referTo.uri.toString();
      event("transfer asked to " + to);
      (async () => {
        await referral.accept();
        // The transferor hangs up (RFC 5589 §6); if it does not, we do.
        for (let i = 0; i < 30 && session === s; i++) {
          await sleep(100);
        }
        if (session === s && s.state === SessionState.Established) {
          await s.bye();
        }
        for (let i = 0; i < 30 && session === s; i++) {
          await sleep(100);
        }
        await call(to);
      })().catch(error);
    },
  };
  s.stateChange.addListener((state) => {
    if (result.states[result.states.length - 1] !== state) {
      result.states.push(state);
    }
    event("state " + state);
    if (state === SessionState.Establishing) {
      callState(s instanceof Inviter ? "calling…" : "answering…");
    } else if (state === SessionState.Established) {
      result.established = true;
      result.callsEstablished += 1;
      established(s).catch(error);
    } else if (state === SessionState.Terminated) {
      ended(s);
    }
  });
}

async function established(s) {
  callState("in call");
  showIncoming(null);
  const started = Date.now();
  clock = setInterval(() => {
    const t = Math.floor((Date.now() - started) / 1000);
    $("call-timer").textContent = `${Math.floor(t / 60)}:${String(t % 60).padStart(2, "0")}`;
  }, 500);
  inCallControls(true);
  muted = false;
  const pc = s.sessionDescriptionHandler.peerConnection;
  const remote = s.sessionDescriptionHandler.remoteMediaStream;
  // Play what we receive (so that it is heard, and decoded).
  const player = new Audio();
  player.srcObject = remote;
  player.play().catch(error);
  stopMeters.push(meter("level-in", remote, heard));
  const mic = pc.getSenders().map((x) => x.track).filter(Boolean);
  if (mic.length > 0) {
    stopMeters.push(meter("level-out", new MediaStream(mic)));
  }
  watchStats(pc);
  await automate(s, started);
}

function ended(s) {
  if (session !== s) {
    return;
  }
  session = null;
  callState("ended");
  showIncoming(null);
  stopMeters.forEach((stop) => stop());
  stopMeters = [];
  if (stopRing) {
    stopRing();
    stopRing = null;
  }
  clearInterval(clock);
  // The keyboard's digits, * and # send DTMF too while in a call (not while typing in a field).
document.addEventListener("keydown", (e) => {
  const typing = e.target instanceof HTMLInputElement;
  if (!typing && /^[0-9*#]$/.test(e.key) && session && session.state === SessionState.Established) {
    guard(() => dtmf(e.key))();
  }
});
inCallControls(false);
  $("hangup").disabled = true;
  $("call").disabled = false;
  $("mute").textContent = "Mute";
  $("mute").setAttribute("aria-pressed", "false");
  result.callsEnded += 1;
  if (result.callsEnded >= Number(param("calls", "1"))) {
    // Let the last statistics and messages arrive.
    setTimeout(report, 500);
  }
}

/** Keeps a fresh getStats() snapshot while the call is up. */
function watchStats(pc) {
  const take = async () => {
    const s = { connectionState: pc.connectionState };
    const reports = await pc.getStats();
    reports.forEach((r) => {
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
      }
    });
    reports.forEach((r) => {
      if (r.id === s.codecId) {
        s.codec = r.mimeType;
      }
    });
    result.stats = s;
  };
  const timer = setInterval(() => {
    if (pc.connectionState === "closed") {
      clearInterval(timer);
    } else {
      take().catch(error);
    }
  }, 250);
}

async function call(text) {
  const target = UserAgent.makeURI(completeUri(text));
  if (!target) {
    throw new Error("not a SIP address: " + text);
  }
  if (session) {
    throw new Error("already in a call");
  }
  const agent = await userAgent();
  const inviter = new Inviter(agent, target, { sessionDescriptionHandlerOptions: MEDIA });
  follow(inviter, target.toString());
  callState("calling…");
  event("calling " + target.toString());
  await inviter.invite({
    requestDelegate: {
      onReject: (response) => {
        const m = response.message;
        callState(`failed: ${m.statusCode} ${m.reasonPhrase}`);
      },
    },
  });
}

function incoming(invitation) {
  const caller = invitation.remoteIdentity.uri.toString();
  event("incoming " + caller);
  if (session) {
    invitation.reject({ statusCode: 486 }).catch(error);
    return;
  }
  follow(invitation, caller);
  callState("ringing");
  showIncoming(caller);
  if (param("autoanswer") === "1") {
    answer().catch(error);
  } else {
    try {
      stopRing = ring();
    } catch (e) {
      error(e);
    }
  }
}

async function answer() {
  if (stopRing) {
    stopRing();
    stopRing = null;
  }
  showIncoming(null);
  await session.accept({ sessionDescriptionHandlerOptions: MEDIA });
}

async function hangup() {
  const s = session;
  if (!s) {
    return;
  }
  if (s.state === SessionState.Established) {
    await s.bye();
  } else if (s instanceof Inviter) {
    await s.cancel();
  } else {
    await s.reject();
  }
}

/** One DTMF tone by SIP INFO (application/dtmf-relay, as most servers and phones take it). */
async function dtmf(tone) {
  if (!session || session.state !== SessionState.Established) {
    return;
  }
  const body = {
    contentDisposition: "render",
    contentType: "application/dtmf-relay",
    content: `Signal=${tone}\r\nDuration=160`,
  };
  await session.info({ requestOptions: { body } });
  result.dtmfSent += tone;
  $("dtmf-sent").textContent = result.dtmfSent.slice(-16);
  event("dtmf sent " + tone);
}

/** Mutes or unmutes the microphone: the tracks we send carry silence while muted. */
function setMuted(on) {
  if (!session || !session.sessionDescriptionHandler) {
    return;
  }
  muted = on;
  for (const sender of session.sessionDescriptionHandler.peerConnection.getSenders()) {
    if (sender.track) {
      sender.track.enabled = !on;
    }
  }
  $("mute").textContent = on ? "Unmute" : "Mute";
  $("mute").setAttribute("aria-pressed", String(on));
  result.mute.push({ muted: on, packetsSent: (result.stats && result.stats.packetsSent) || 0 });
  event(on ? "muted" : "unmuted");
}

async function transfer(text) {
  const target = UserAgent.makeURI(completeUri(text));
  if (!target) {
    throw new Error("not a SIP address: " + text);
  }
  if (!session || session.state !== SessionState.Established) {
    return;
  }
  result.transfer = { target: target.toString(), status: null };
  event("transfer to " + target.toString());
  await new Promise((resolve) => {
    session.refer(target, {
      requestDelegate: {
        onAccept: (response) => {
          result.transfer.status = response.message.statusCode;
          callState("transferred to " + target.toString());
          // A blind transfer: our part ends once the other side took it (RFC 5589 §6).
          if (session && session.state === SessionState.Established) {
            session.bye().catch(error);
          }
          resolve();
        },
        onReject: (response) => {
          result.transfer.status = response.message.statusCode;
          callState("transfer refused: " + response.message.statusCode);
          resolve();
        },
      },
    });
  });
  event("transfer answered " + result.transfer.status);
}

/** The URL's steps for an established call (see the top of this file). */
async function automate(s, started) {
  const talk = Number(param("talk", "2000"));
  const hangupAfter = Number(param("hangupAfter", "0"));
  if (hangupAfter > 0) {
    setTimeout(() => {
      if (session === s) {
        hangup().catch(error);
      }
    }, hangupAfter);
  }
  await sleep(talk);
  for (const tone of param("dtmf")) {
    if (session !== s) {
      return;
    }
    await dtmf(tone);
    await sleep(400);
  }
  const muteMs = Number(param("mute", "0"));
  if (muteMs > 0 && session === s) {
    setMuted(true);
    await sleep(muteMs);
    setMuted(false);
  }
  if (param("transfer") && session === s && !result.transfer) {
    await transfer(param("transfer"));
  }
  event("steps done after " + (Date.now() - started) + " ms");
}

// ---------------------------------------------------------------------------------------------
// Wiring

function guard(f) {
  return (e) => {
    if (e && e.preventDefault) {
      e.preventDefault();
    }
    Promise.resolve()
      .then(f)
      .catch((err) => {
        error(err);
        callState("error: " + (err && err.message ? err.message : err));
      });
  };
}

$("account").addEventListener("submit", guard(register));
$("unregister").addEventListener("click", guard(unregister));
$("dial").addEventListener("submit", guard(() => call($("target").value)));
$("hangup").addEventListener("click", guard(hangup));
$("answer").addEventListener("click", guard(answer));
$("decline").addEventListener("click", guard(() => session && session.reject()));
$("mute").addEventListener("click", guard(() => setMuted(!muted)));
$("transfer").addEventListener("submit", guard(() => transfer($("transfer-target").value)));
for (const b of $("keypad").querySelectorAll("button")) {
  b.addEventListener("click", guard(() => dtmf(b.textContent)));
}
inCallControls(false);

async function main() {
  setTimeout(report, Number(param("timeout", "30")) * 1000);
  let fetched = {};
  try {
    const r = await fetch("config.json", { cache: "no-store" });
    if (r.ok) {
      fetched = await r.json();
    }
  } catch (e) {
    error("no config.json: " + e);
  }
  config = {
    wsUrl: param("ws", fetched.wsUrl || `ws://${location.hostname}:8080`),
    domain: param("domain", fetched.domain || location.hostname),
  };
  result.config = config;
  $("server").textContent = `${config.wsUrl} (domain ${config.domain})`;
  const remembered = localStorage.getItem("sipline-phone-user");
  const user = param("user", remembered || "web" + Math.floor(1000 + Math.random() * 9000));
  $("uri").value = param("uri", `sip:${user}@${config.domain}`);
  $("password").value = param("password");
  $("target").value = param("call");
  $("account").addEventListener("submit", () => {
    const u = UserAgent.makeURI(completeUri($("uri").value));
    if (u) {
      localStorage.setItem("sipline-phone-user", u.user);
    }
  });
  event("ready " + JSON.stringify(config));
  if (param("user") && param("register", "1") !== "0") {
    await register();
  }
  if (param("call")) {
    await call(param("call"));
  }
}

main().catch((e) => {
  error(e);
  callState("error: " + (e && e.message ? e.message : e));
  // The URL's steps cannot go on: report now.
  report();
});
