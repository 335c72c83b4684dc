//! The first bytes of an HTTP connection, as the lean event-stream path reads
//! them before anything else does.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ovasabi_edge::internals::transport::sse::lean::event_stream_request(
        data,
        Some([127, 0, 0, 1].into()),
        ovasabi_edge::internals::client::ProxyTrust::NONE,
    );
});
