//! Any bytes: parsing never panics, and whatever parses writes back to a message that parses
//! to an equal one (and that validates exactly when the original did).
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use sipline_proto::{Limits, parse_message};

fuzz_target!(|data: &[u8]| {
    let limits = Limits::default();
    let Ok(msg) = parse_message(Bytes::copy_from_slice(data), &limits) else { return };
    let valid = msg.validate().is_ok();
    let _ = msg.essentials();
    for f in msg.headers().iter() {
        let _ = (f.name, f.value);
    }
    let _ = msg.headers().vias().count();
    let _ = msg.headers().contacts().count();
    let wire = msg.to_bytes();
    let again = parse_message(wire.clone(), &Limits { max_message_size: usize::MAX, max_line_length: usize::MAX, ..limits })
        .unwrap_or_else(|e| panic!("re-parse failed: {e}\n{}", String::from_utf8_lossy(&wire)));
    assert_eq!(msg, again, "round trip changed the message");
    assert_eq!(valid, again.validate().is_ok(), "validity changed in the round trip");
});
