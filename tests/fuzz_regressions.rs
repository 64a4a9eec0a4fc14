//! Replays every saved fuzz input through the code its target runs: the seeds
//! (`fuzz/seeds/<target>/`) and every input a fuzzer ever crashed on
//! (`fuzz/regressions/<target>/`, one file per crash, kept forever). `cargo fuzz` needs no
//! part in this; see `fuzz/README.md` for running the fuzzers themselves.

mod common;

fn replay(target: &str, entry: fn(&[u8])) {
    let mut count = 0;
    for kind in ["seeds", "regressions"] {
        let dir = common::repo().join("fuzz").join(kind).join(target);
        for file in std::fs::read_dir(&dir).unwrap() {
            let path = file.unwrap().path();
            if path.file_name().is_some_and(|n| n == ".keep") {
                continue;
            }
            let bytes = std::fs::read(&path).unwrap();
            let outcome = std::panic::catch_unwind(|| entry(&bytes));
            assert!(outcome.is_ok(), "{} panics", path.display());
            count += 1;
        }
    }
    assert!(count > 0, "no saved inputs for {target}");
}

#[test]
fn spec_inputs() {
    replay("spec", kindling::fuzz_entry::spec);
}

#[test]
fn validate_inputs() {
    replay("validate", kindling::fuzz_entry::validate);
}

#[test]
fn dataurl_inputs() {
    replay("dataurl", kindling::fuzz_entry::dataurl);
}

#[test]
fn redact_inputs() {
    replay("redact", kindling::fuzz_entry::redact);
}

#[test]
fn butane_inputs() {
    replay("butane", kindling::fuzz_entry::butane);
}
