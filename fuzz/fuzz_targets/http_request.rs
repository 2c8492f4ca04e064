#![no_main]

// Each target uses one function of the shared driver.
#[allow(dead_code)]
#[path = "../drive.rs"]
mod drive;

libfuzzer_sys::fuzz_target!(|data: &[u8]| drive::http_request(data));
