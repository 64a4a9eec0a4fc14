//! Fuzz target: kindling::fuzz_entry::butane (see there for what it checks).
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| kindling::fuzz_entry::butane(data));
