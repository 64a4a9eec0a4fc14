//! Byte scans the hot paths share. The data of a large config's inline files is most of
//! what rendering and validating it read, so the checks that pass over every byte are
//! written once, in a form the compiler turns into many bytes per instruction.

/// Whether `holds` is true of every byte of `data`. The bytes are tested 64 at a time and
/// the answers combined with `&` rather than a branch per byte, so that a predicate made of
/// comparisons vectorises; `holds` must be such a predicate to gain from it.
#[inline]
pub fn all_bytes(data: &[u8], holds: impl Fn(u8) -> bool) -> bool {
    data.chunks(64)
        .all(|chunk| chunk.iter().fold(true, |all, &byte| all & holds(byte)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_failing_byte_anywhere_across_two_steps_is_found() {
        for at in 0..130 {
            let mut data = vec![b'a'; 130];
            data[at] = b'!';
            assert!(
                !all_bytes(&data, |byte| byte.is_ascii_lowercase()),
                "at {at}"
            );
        }
        assert!(all_bytes(&[b'a'; 130], |byte| byte.is_ascii_lowercase()));
    }

    #[test]
    fn empty_data_holds() {
        assert!(all_bytes(&[], |_| false));
    }
}
