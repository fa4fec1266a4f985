//! What the unit tests share: inputs made by replacing a few bytes of a valid one, for the
//! proptests that hold each fast path equal to the general path it skips.

use proptest::sample::Index;

/// `base` with each edit's byte written at its position (taken modulo the length).
pub(crate) fn mutated(base: &[u8], edits: &[(Index, u8)]) -> Vec<u8> {
    let mut m = base.to_vec();
    for &(at, byte) in edits {
        let i = at.index(m.len());
        m[i] = byte;
    }
    m
}
