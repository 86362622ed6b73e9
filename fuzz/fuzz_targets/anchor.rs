#![no_main]
// See ops_warden::fuzzing::anchor: the same entry the stable corpus replay runs.
libfuzzer_sys::fuzz_target!(|data: &[u8]| ops_warden::fuzzing::anchor(data));
