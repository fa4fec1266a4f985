// SIP.js 0.21 against sipline over WebSocket. URL parameters:
//   mode=call    target=sip:bot@127.0.0.1:PORT  calls target
//   mode=answer  registers (uri, user, password) and answers the first call
//   ws=ws://127.0.0.1:PORT                      the WebSocket server (sipline or Kamailio)
//   uri=sip:NAME@HOST (default sip:browser@127.0.0.1), user=, password=  (digest)
//   dtmf=12  tones sent by RFC 4733 (sendDtmf), info=34  tones sent by SIP INFO,
//            both after talk= seconds (default 2) of established call
//   hangup=browser  the browser hangs up after talk= + 2 seconds (default: the remote does)
//   icerestart=1  after talk= seconds, re-INVITE with an ICE restart (offerOptions.iceRestart, RFC
//            8445 §9), then talk 2 s more; result.iceRestart says what changed
//   turn=turn:127.0.0.1:PORT turnuser=U turnpass=P  a TURN server (iceServers); relay=1 makes
//            iceTransportPolicy "relay" (relayed candidates only)
//   timeout=20  seconds after which the result is reported whatever happened
//   video=1  send and receive video too (Chromium's fake camera); stats.video reports the
//            inbound-rtp video counters (framesDecoded, ...)
import { Inviter, Registerer, SessionState, UserAgent } from "./node_modules/sip.js/lib/index.js";
import { AUDIO, error, event, listen, param, report, reportAfterTimeout, result, sleep, state, tap, watchStats } from "./common.js";

result.lib = "sip.js";

const ua = new UserAgent({
  uri: UserAgent.makeURI(param("uri", "sip:browser@127.0.0.1")),
  transportOptions: { server: param("ws") },
  authorizationUsername: param("user") || undefined,
  authorizationPassword: param("password") || undefined,
  logLevel: "warn",
  sessionDescriptionHandlerFactoryOptions: {
    peerConnectionConfiguration: param("turn")
      ? {
          iceServers: [{ urls: param("turn"), username: param("turnuser"), credential: param("turnpass") }],
          iceTransportPolicy: param("relay") === "1" ? "relay" : "all",
        }
      : { iceServers: [] },
    iceGatheringTimeout: 2000,
  },
  delegate: { onInvite: (invitation) => answer(invitation) },
});

// Watch every SIP message on the WebSocket (SIP.js set these callbacks in its constructor).
const onMessage = ua.transport.onMessage;
ua.transport.onMessage = (m) => {
  tap("in", m);
  onMessage(m);
};
const send = ua.transport.send.bind(ua.transport);
ua.transport.send = (m) => {
  tap("out", m);
  return send(m);
};

const media = { constraints: { audio: AUDIO, video: param("video") === "1" } };

/** Follows one call (either direction) until it ends, then reports. */
function follow(session) {
  session.delegate = {
    onInfo(info) {
      const signal = /Signal\s*=\s*(\S)/i.exec(info.request.body || "");
      if (signal) {
        result.dtmfReceived += signal[1];
      }
      info.accept();
    },
  };
  session.stateChange.addListener(async (s) => {
    state(s);
    if (s === SessionState.Established) {
      const sdh = session.sessionDescriptionHandler;
      watchStats(sdh.peerConnection);
      listen(sdh.remoteMediaStream);
      await talk(session);
    } else if (s === SessionState.Terminated) {
      // Let the last statistics and messages arrive.
      await sleep(500);
      report();
    }
  });
}

/** The a=ice-ufrag of an SDP. */
function ufrag(sdp) {
  return (/a=ice-ufrag:(\S+)/.exec(sdp || "") || [])[1] || null;
}

/** Restarts ICE by re-INVITE (SIP.js `invite()` with `iceRestart`), then talks 2 s more. */
async function restartIce(session) {
  const pc = session.sessionDescriptionHandler.peerConnection;
  const received = () => (result.stats && result.stats.packetsReceived) || 0;
  const r = {
    packetsBefore: received(),
    localUfragBefore: ufrag(pc.localDescription && pc.localDescription.sdp),
    remoteUfragBefore: ufrag(pc.remoteDescription && pc.remoteDescription.sdp),
    accepted: false,
  };
  result.iceRestart = r;
  await new Promise((resolve) => {
    session
      .invite({
        // SIP.js 0.21 passes offerOptions to RTCPeerConnection.createOffer().
        sessionDescriptionHandlerOptions: {
          constraints: media.constraints,
          offerOptions: { iceRestart: true },
        },
        requestDelegate: {
          onAccept() {
            r.accepted = true;
            resolve();
          },
          onReject(response) {
            r.rejected = response.message.statusCode;
            resolve();
          },
        },
      })
      .catch((e) => {
        error(e);
        resolve();
      });
  });
  await sleep(300); // the answer is applied
  r.localUfragAfter = ufrag(pc.localDescription && pc.localDescription.sdp);
  r.remoteUfragAfter = ufrag(pc.remoteDescription && pc.remoteDescription.sdp);
  r.packetsAtAccept = received();
  await sleep(2000);
  r.packetsAfter = received();
  r.iceConnectionState = pc.iceConnectionState;
}

/** The established call: maybe an ICE restart, DTMF both ways, then maybe hang up. */
async function talk(session) {
  const talkMs = Number(param("talk", "2")) * 1000;
  await sleep(talkMs);
  if (param("icerestart") === "1") {
    await restartIce(session);
  }
  for (const tone of param("dtmf")) {
    if (session.sessionDescriptionHandler.sendDtmf(tone, { duration: 160, interToneGap: 100 })) {
      result.dtmfSent += tone;
    }
    await sleep(400);
  }
  for (const tone of param("info")) {
    const body = {
      contentDisposition: "render",
      contentType: "application/dtmf-relay",
      content: `Signal=${tone}\r\nDuration=160`,
    };
    await session.info({ requestOptions: { body } });
    result.dtmfSent += tone;
    await sleep(300);
  }
  if (param("hangup") === "browser") {
    await sleep(2000);
    if (session.state === SessionState.Established) {
      await session.bye();
    }
  }
}

async function call() {
  const target = UserAgent.makeURI(param("target"));
  if (!target) {
    throw new Error("bad target " + param("target"));
  }
  const inviter = new Inviter(ua, target, { sessionDescriptionHandlerOptions: media });
  follow(inviter);
  await inviter.invite();
}

function answer(invitation) {
  event("invite");
  follow(invitation);
  invitation.accept({ sessionDescriptionHandlerOptions: media }).catch(error);
}

async function register() {
  const registerer = new Registerer(ua);
  await registerer.register({
    requestDelegate: {
      onAccept() {
        result.registered = true;
        event("registered");
      },
      onReject(response) {
        error("registration refused: " + response.message.statusCode);
        report();
      },
    },
  });
}

reportAfterTimeout();
try {
  await ua.start();
  event("connected");
  if (result.mode === "answer") {
    await register();
  } else {
    await call();
  }
} catch (e) {
  error(e);
  report();
}
