//! The architecture a binary was built for, read from its ELF header, so an image never
//! claims an architecture its binaries cannot run on.

/// What the first bytes of a file say about it.
#[derive(Debug, PartialEq, Eq)]
pub enum Machine {
    /// A systemd architecture id kindling builds images for (`x86-64`, `arm64`).
    Known(&'static str),
    /// An ELF file for another machine (the raw `e_machine` value).
    Other(u16),
    /// An ELF file Flatcar cannot run whatever its machine: 32-bit, big-endian, or not an
    /// executable; what it is, in words.
    Unrunnable(&'static str),
    /// Not an ELF file at all (a script, a text file, a truncated download).
    NotElf,
}

const EM_X86_64: u16 = 62;
const EM_AARCH64: u16 = 183;

const ELFCLASS64: u8 = 2;
const ELFDATA2LSB: u8 = 1;
const ET_EXEC: u16 = 2;
const ET_DYN: u16 = 3;

/// The machine kindling runs on, when it is one kindling builds images for.
pub fn host_machine() -> Option<Machine> {
    match std::env::consts::ARCH {
        "x86_64" => Some(Machine::Known("x86-64")),
        "aarch64" => Some(Machine::Known("arm64")),
        _ => None,
    }
}

/// Reads `e_machine` from an ELF header of either byte order. Flatcar's architectures are
/// both 64-bit little-endian, and runs executables (ET_EXEC) and position-independent ones
/// (ET_DYN) only: an x32 or big-endian binary with a known machine fails with "Exec format
/// error", so it is not Known.
pub fn machine(bytes: &[u8]) -> Machine {
    let Some(header) = bytes.get(..20) else {
        return Machine::NotElf;
    };
    if &header[..4] != b"\x7fELF" {
        return Machine::NotElf;
    }
    let half = |at: usize| [header[at], header[at + 1]];
    let (kind, value) = match header[5] {
        1 => (u16::from_le_bytes(half(16)), u16::from_le_bytes(half(18))),
        2 => (u16::from_be_bytes(half(16)), u16::from_be_bytes(half(18))),
        _ => return Machine::NotElf,
    };
    if header[4] != ELFCLASS64 {
        return Machine::Unrunnable("a 32-bit ELF file (Flatcar runs 64-bit binaries only)");
    }
    if header[5] != ELFDATA2LSB {
        return Machine::Unrunnable(
            "a big-endian ELF file (Flatcar's x86-64 and arm64 are little-endian)",
        );
    }
    if kind != ET_EXEC && kind != ET_DYN {
        return Machine::Unrunnable(
            "an ELF file that is not an executable (an object file or core dump)",
        );
    }
    match value {
        EM_X86_64 => Machine::Known("x86-64"),
        EM_AARCH64 => Machine::Known("arm64"),
        other => Machine::Other(other),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn elf(class: u8, data: u8, kind: [u8; 2], machine: [u8; 2]) -> Vec<u8> {
        let mut bytes = vec![0x7f, b'E', b'L', b'F', class, data];
        bytes.resize(16, 0);
        bytes.extend_from_slice(&kind);
        bytes.extend_from_slice(&machine);
        bytes.resize(64, 0);
        bytes
    }

    fn header(data: u8, machine: [u8; 2]) -> Vec<u8> {
        let kind = if data == 1 { [2, 0] } else { [0, 2] };
        elf(2, data, kind, machine)
    }

    #[test]
    fn reads_the_machine_of_64_bit_little_endian_executables() {
        assert_eq!(machine(&header(1, [62, 0])), Machine::Known("x86-64"));
        assert_eq!(machine(&header(1, [183, 0])), Machine::Known("arm64"));
        assert_eq!(
            machine(&elf(2, 1, [3, 0], [62, 0])),
            Machine::Known("x86-64")
        );
        assert_eq!(machine(&header(1, [40, 0])), Machine::Other(40));
    }

    /// bad-input-2/15: x32 (32-bit, machine x86-64), big-endian AArch64 and object files
    /// are not taken for images Flatcar can run.
    #[test]
    fn a_known_machine_flatcar_cannot_run_is_unrunnable() {
        assert!(
            matches!(machine(&header(2, [0, 183])), Machine::Unrunnable(m) if m.contains("big-endian"))
        );
        assert!(
            matches!(machine(&elf(1, 1, [2, 0], [62, 0])), Machine::Unrunnable(m) if m.contains("32-bit"))
        );
        assert!(
            matches!(machine(&elf(2, 1, [1, 0], [62, 0])), Machine::Unrunnable(m) if m.contains("not an executable"))
        );
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
