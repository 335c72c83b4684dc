//! A cursor uplink datagram: any bytes decode or are refused, never panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = protocol::decode_uplink(data);
});
