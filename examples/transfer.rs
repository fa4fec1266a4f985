//! A blind transfer (RFC 3515) with three user agents in one process, all on 127.0.0.1:
//! alice calls bob, bob transfers alice to carol (`Session::refer`), alice follows the REFER
//! (`Session::follow_refer`, SIP.js `followRefer`) and calls carol, bob hears how it went in
//! sipfrag NOTIFYs and hangs up, alice and carol talk (each checks the other's tone).
//!
//! ```sh
//! cargo run -p sipline-examples --example transfer
//! ```

use std::time::Duration;

use sipline::{
    AcceptOptions, BufferSink, ByeOptions, InviteOptions, ReferOptions, Session, SessionEvent,
    ToneSource, TransportKind, Ua, UaEvent, tone_frequency,
};

/// Why the transfer did not go as planned.
type Failure = Box<dyn std::error::Error + Send + Sync>;

async fn ua(user: &str) -> Result<Ua, sipline::Error> {
    let any = "127.0.0.1:0"
        .parse()
        .map_err(|_| sipline::Error::InvalidArgument("loopback address".into()))?;
    Ua::builder()
        .uri(format!("sip:{user}@127.0.0.1"))
        .udp(any)
        .build()
        .await
}

fn address_of(ua: &Ua, user: &str) -> Result<String, Failure> {
    let addr = ua.local_addr(TransportKind::Udp).ok_or("no UDP address")?;
    Ok(format!("sip:{user}@{addr}"))
}

/// The next event within 10 s, skipping progress and media set-up.
async fn next(session: &mut Session) -> Result<SessionEvent, Failure> {
    loop {
        let event = tokio::time::timeout(Duration::from_secs(10), session.next_event())
            .await
            .map_err(|_| "no event within 10 s")?
            .ok_or("the session ended")?;
        match event {
            SessionEvent::Progress { .. } | SessionEvent::Connecting => {}
            e => return Ok(e),
        }
    }
}

async fn incoming(ua: &Ua) -> Result<Session, Failure> {
    match tokio::time::timeout(Duration::from_secs(10), ua.next_event()).await {
        Ok(Some(UaEvent::Invite(s))) => Ok(s),
        other => Err(format!("no incoming call: {other:?}").into()),
    }
}

/// Runs the whole transfer; returns the tones alice and carol heard from each other.
pub async fn run() -> Result<(f32, f32), Failure> {
    let (alice, bob, carol) = (ua("alice").await?, ua("bob").await?, ua("carol").await?);

    // 1. alice calls bob; bob answers.
    let mut a_call = alice
        .invite(&address_of(&bob, "bob")?, InviteOptions::default())
        .await?;
    let mut b_call = incoming(&bob).await?;
    b_call.accept(AcceptOptions::default()).await?;
    if !matches!(next(&mut a_call).await?, SessionEvent::Accepted { .. }) {
        return Err("alice's call to bob was not answered".into());
    }
    println!("alice <-> bob connected");

    // 2. bob transfers alice to carol.
    b_call
        .refer(&address_of(&carol, "carol")?, ReferOptions::default())
        .await?;
    let refer = loop {
        match next(&mut a_call).await? {
            SessionEvent::Refer { request } => break request,
            SessionEvent::Accepted { .. } => {}
            e => return Err(format!("alice expected a REFER, got {e:?}").into()),
        }
    };
    println!("bob asked alice to call carol");

    // 3. alice follows the REFER with a tone; carol answers with hers.
    let alice_hears = BufferSink::new(8000);
    let alice_heard = alice_hears.handle();
    let (a_to_c, c_call) = tokio::join!(
        a_call.follow_refer(
            &refer,
            InviteOptions {
                audio_source: Box::new(ToneSource::new(8000, 440.0, -12.0)),
                audio_sink: Box::new(alice_hears),
                ..InviteOptions::default()
            }
        ),
        incoming(&carol)
    );
    let (mut a_to_c, c_call) = (a_to_c?, c_call?);
    let carol_hears = BufferSink::new(8000);
    let carol_heard = carol_hears.handle();
    c_call
        .accept(AcceptOptions {
            audio_source: Box::new(ToneSource::new(8000, 880.0, -12.0)),
            audio_sink: Box::new(carol_hears),
            ..AcceptOptions::default()
        })
        .await?;
    if !matches!(next(&mut a_to_c).await?, SessionEvent::Accepted { .. }) {
        return Err("alice's call to carol was not answered".into());
    }
    println!("alice <-> carol connected");

    // 4. bob sees the transfer succeed (sipfrag NOTIFY "SIP/2.0 200 OK") and hangs up.
    loop {
        match next(&mut b_call).await? {
            SessionEvent::ReferProgress { status, .. } => {
                println!("bob: the transfer says {status}");
                if status.as_u16() >= 200 {
                    break;
                }
            }
            // alice's ACK of bob's 200 may come after the REFER went out.
            SessionEvent::Accepted { .. } => {}
            e => return Err(format!("bob expected NOTIFYs, got {e:?}").into()),
        }
    }
    b_call.bye(ByeOptions::default()).await?;
    println!("bob hung up");

    // 5. alice and carol talk for a second, then alice hangs up.
    tokio::time::sleep(Duration::from_millis(1000)).await;
    a_to_c.bye(ByeOptions::default()).await?;
    let heard_by_alice = tone_frequency(&alice_heard.take(), 8000).ok_or("alice heard no tone")?;
    let heard_by_carol = tone_frequency(&carol_heard.take(), 8000).ok_or("carol heard no tone")?;
    println!("alice heard {heard_by_alice:.0} Hz, carol heard {heard_by_carol:.0} Hz");
    for ua in [alice, bob, carol] {
        ua.stop().await;
    }
    Ok((heard_by_alice, heard_by_carol))
}

#[tokio::main]
async fn main() -> Result<(), Failure> {
    let (alice, carol) = run().await?;
    if (alice - 880.0).abs() > 5.0 || (carol - 440.0).abs() > 5.0 {
        return Err(format!("expected 880 Hz and 440 Hz, heard {alice:.0} and {carol:.0}").into());
    }
    println!("transfer done");
    Ok(())
}
