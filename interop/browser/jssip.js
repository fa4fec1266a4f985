// JsSIP 3 (the esbuild bundle dist/jssip.bundle.js, global JsSIP) against sipline over
// WebSocket. The URL parameters are those of sipjs.js.
import { AUDIO, error, event, listen, param, report, reportAfterTimeout, result, sleep, state, tap, watchStats } from "./common.js";

const JsSIP = window.JsSIP;
result.lib = "jssip " + JsSIP.version;

// Watch every SIP message on the WebSocket.
const socket = new JsSIP.WebSocketInterface(param("ws"));
const send = socket.send.bind(socket);
socket.send = (m) => {
  tap("out", m);
  return send(m);
};
let ondata = null;
Object.defineProperty(socket, "ondata", {
  get: () => (data) => {
    tap("in", data);
    ondata(data);
  },
  set: (f) => {
    ondata = f;
  },
});

const ua = new JsSIP.UA({
  sockets: [socket],
  uri: param("uri", "sip:browser@127.0.0.1"),
  authorization_user: param("user") || undefined,
  password: param("password") || undefined,
  register: result.mode === "answer",
  session_timers: false,
});

const options = {
  mediaConstraints: { audio: AUDIO, video: false },
  pcConfig: { iceServers: [] },
};

/** Follows one call (either direction) until it ends, then reports. */
function follow(session) {
  const ended = async (e) => {
    state("Terminated");
    result.endCause = e.cause;
    await sleep(500);
    report();
  };
  session.on("progress", () => state("Establishing"));
  session.on("confirmed", () => {
    state("Established");
    watchStats(session.connection);
    const stream = new MediaStream(session.connection.getReceivers().map((r) => r.track));
    listen(stream);
    talk(session).catch(error);
  });
  session.on("newDTMF", (e) => {
    if (e.originator === "remote") {
      result.dtmfReceived += e.dtmf.tone;
    }
  });
  session.on("ended", ended);
  session.on("failed", ended);
}

/** The established call: DTMF both ways, then maybe hang up. */
async function talk(session) {
  await sleep(Number(param("talk", "2")) * 1000);
  for (const tone of param("dtmf")) {
    session.sendDTMF(tone, { transportType: "RFC2833", duration: 160, interToneGap: 100 });
    result.dtmfSent += tone;
    await sleep(400);
  }
  for (const tone of param("info")) {
    session.sendDTMF(tone, { transportType: "INFO", duration: 160 });
    result.dtmfSent += tone;
    await sleep(300);
  }
  if (param("hangup") === "browser") {
    await sleep(2000);
    if (session.isEstablished()) {
      session.terminate();
    }
  }
}

let called = false;
ua.on("connected", () => {
  event("connected");
  // Once: JsSIP reconnects (and says "connected" again) when the server closes.
  if (result.mode === "call" && !called) {
    called = true;
    follow(ua.call(param("target"), options));
  }
});
ua.on("registered", () => {
  result.registered = true;
  event("registered");
});
ua.on("registrationFailed", (e) => {
  error("registration refused: " + e.cause);
  report();
});
ua.on("newRTCSession", ({ originator, session }) => {
  if (originator === "remote") {
    event("invite");
    follow(session);
    session.answer(options);
  }
});

reportAfterTimeout();
ua.start();
