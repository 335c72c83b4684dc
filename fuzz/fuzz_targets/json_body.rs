//! A form body: parsed into the join and lead forms or refused with a 4xx,
//! never a panic.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let _ = ovasabi_edge::internals::request::parse_json::<ovasabi_edge::internals::forms::join::JoinRequest>(data);
    let _ = ovasabi_edge::internals::request::parse_json::<ovasabi_edge::internals::forms::lead::LeadRequest>(data);
});
