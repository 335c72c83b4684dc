//! A form body: parsed into the join and lead forms or refused with a 4xx,
//! never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = server::http::parse_json::<server::forms::join::JoinRequest>(data);
    let _ = server::http::parse_json::<server::forms::lead::LeadRequest>(data);
});
