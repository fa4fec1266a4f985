//! REGISTER through the public API against a real registrar: sipp running
//! `interop/sipp/registrar_digest.xml` challenges with digest (MD5, qop=auth) and checks the
//! credentials with its own implementation (`verifyauth`). Right password: registered, then
//! unregistered, sipp's call successful. Wrong password: `register()` fails with 403.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

#[path = "../../sipline-tokio/tests/common/sipp.rs"]
#[allow(dead_code, unreachable_pub)]
mod sipp;

use std::time::Duration;

use sipline::{Error, StatusCode, Ua};

async fn ua_registering_to(port: u16, password: &str) -> Result<Ua, Error> {
    Ua::builder()
        .uri("sip:alice@sipline.test")
        .udp("127.0.0.1:0".parse().unwrap())
        .registrar(format!("sip:127.0.0.1:{port}"))
        .password(password)
        .register_expires(300)
        .build()
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn register_and_unregister_with_digest_against_sipp() {
    let port = sipp::free_port();
    let scenario = sipp::scenario("registrar_digest.xml");
    let sipp = sipp::Sipp::spawn(
        port,
        &[
            "-sf",
            scenario.to_str().unwrap(),
            "-m",
            "1",
            "-timeout",
            "20s",
        ],
    );
    sipp.ready("u1").await;
    let ua = tokio::time::timeout(Duration::from_secs(10), ua_registering_to(port, "secret"))
        .await
        .expect("no answer to REGISTER within 10 s")
        .expect("registration failed");
    match tokio::time::timeout(Duration::from_secs(5), ua.next_event()).await {
        Ok(Some(sipline::UaEvent::Registered { expires })) => assert_eq!(expires, 300),
        other => panic!("{other:?}"),
    }
    ua.unregister().await.unwrap();
    let run = sipp.finish(Duration::from_secs(20)).await;
    run.assert_clean(1, "registrar");
    ua.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wrong_password_is_refused() {
    let port = sipp::free_port();
    let scenario = sipp::scenario("registrar_digest.xml");
    let sipp = sipp::Sipp::spawn(
        port,
        &[
            "-sf",
            scenario.to_str().unwrap(),
            "-m",
            "1",
            "-timeout",
            "20s",
        ],
    );
    sipp.ready("u1").await;
    let r = tokio::time::timeout(Duration::from_secs(10), ua_registering_to(port, "wrong"))
        .await
        .expect("no answer to REGISTER within 10 s");
    assert!(
        matches!(r, Err(Error::Rejected(s)) if s == StatusCode::FORBIDDEN),
        "{r:?}"
    );
    let run = sipp.finish(Duration::from_secs(20)).await;
    assert!(run.status.success(), "{}", run.report());
}
