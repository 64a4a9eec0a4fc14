//! The architecture a binary was built for, read from its ELF header, so an image never
//! claims an architecture its binaries cannot run on.

/// What the first bytes of a file say about it.
#[derive(Debug, PartialEq, Eq)]
pub enum Machine {
    /// A systemd architecture id kindling builds images for (`x86-64`, `arm64`).
    Known(&'static str),
    /// An ELF file for another machine (the raw `e_machine` value).
    Other(u16),
    /// Not an ELF file at all (a script, a text file, a truncated download).
    NotElf,
}

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

/// Reads `e_machine` from an ELF header of either byte order.
pub fn machine(bytes: &[u8]) -> Machine {
    let Some(header) = bytes.get(..20) else {
        return Machine::NotElf;
    };
    if &header[..4] != b"\x7fELF" {
        return Machine::NotElf;
    }
    let raw = [header[18], header[19]];
    let value = match header[5] {
        1 => u16::from_le_bytes(raw),
        2 => u16::from_be_bytes(raw),
        _ => return Machine::NotElf,
    };
    match value {
        EM_X86_64 => Machine::Known("x86-64"),
        EM_AARCH64 => Machine::Known("arm64"),
        other => Machine::Other(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(data: u8, machine: [u8; 2]) -> Vec<u8> {
        let mut bytes = vec![0x7f, b'E', b'L', b'F', 2, data];
        bytes.resize(18, 0);
        bytes.extend_from_slice(&machine);
        bytes.resize(64, 0);
        bytes
    }

    #[test]
    fn reads_the_machine_in_either_byte_order() {
        assert_eq!(machine(&header(1, [62, 0])), Machine::Known("x86-64"));
        assert_eq!(machine(&header(1, [183, 0])), Machine::Known("arm64"));
        assert_eq!(machine(&header(2, [0, 183])), Machine::Known("arm64"));
        assert_eq!(machine(&header(1, [40, 0])), Machine::Other(40));
    }

    #[test]
    fn anything_else_is_not_elf() {
        assert_eq!(machine(b"#!/bin/sh\necho etcd\n"), Machine::NotElf);
        assert_eq!(machine(b"\x7fELF"), Machine::NotElf);
        assert_eq!(machine(&header(3, [62, 0])), Machine::NotElf);
    }

    #[test]
    fn the_binary_running_this_test_is_recognised() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let expected = if cfg!(target_arch = "x86_64") {
            Machine::Known("x86-64")
        } else if cfg!(target_arch = "aarch64") {
            Machine::Known("arm64")
        } else {
            return;
        };
        assert_eq!(machine(&me), expected);
    }
}
