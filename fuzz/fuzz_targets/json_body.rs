//! A form body: parsed into the join and lead forms or refused with a 4xx,
//! never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ovasabi_edge::request::parse_json::<ovasabi_edge::forms::join::JoinRequest>(data);
    let _ = ovasabi_edge::request::parse_json::<ovasabi_edge::forms::lead::LeadRequest>(data);
});
