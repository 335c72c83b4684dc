//! A cursor frame datagram (what clients decode): never panics, never
//! allocates past `protocol::DECODE_LIMIT`.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = protocol::decode_frame(data);
});
