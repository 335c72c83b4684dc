//! Decoding any byte string never panics and never allocates more than
//! `DECODE_LIMIT`, whatever lengths it claims. Allocations are counted by a
//! global allocator of this test binary.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use proptest::prelude::*;
use protocol::{
    DECODE_LIMIT, DecodeError, MAX_DATAGRAM, ROSTER_DECODE_LIMIT, ROSTER_VERSION, VERSION,
    decode_frame, decode_roster, decode_uplink,
};

struct Counting;

thread_local! {
    static ALLOCATED: Cell<usize> = const { Cell::new(0) };
}

// SAFETY: forwards to the system allocator and only counts.
#[allow(unsafe_code)]
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.with(|a| a.set(a.get() + layout.size()));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.with(|a| a.set(a.get() + new_size));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Bytes allocated by this thread while running `f`.
fn allocated_by<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATED.with(Cell::get);
    let out = f();
    (out, ALLOCATED.with(Cell::get) - before)
}

/// A varint as bincode `standard()` writes it.
fn varint(value: u64) -> Vec<u8> {
    match value {
        0..=250 => vec![value as u8],
        251..=0xFFFF => [vec![251], (value as u16).to_le_bytes().to_vec()].concat(),
        0x1_0000..=0xFFFF_FFFF => [vec![252], (value as u32).to_le_bytes().to_vec()].concat(),
        _ => [vec![253], value.to_le_bytes().to_vec()].concat(),
    }
}

#[test]
fn huge_claimed_lengths_allocate_nothing_big() {
    for claimed in [1_000u64, 100_000, u32::MAX.into(), u64::MAX] {
        // version, tick 1, presence 1, then a cursor count that the bytes cannot hold.
        let mut bytes = vec![VERSION, 1, 1];
        bytes.extend(varint(claimed));
        bytes.extend([0u8; 16]);
        let (result, allocated) = allocated_by(|| decode_frame(&bytes));
        assert_eq!(result, Err(DecodeError::Malformed), "claimed {claimed}");
        assert!(
            allocated <= DECODE_LIMIT,
            "claimed {claimed}: allocated {allocated} bytes"
        );
    }
}

#[test]
fn a_full_datagram_of_cursors_decodes_within_the_limit() {
    // The most cursors a frame may hold, 4 bytes each.
    let count = protocol::MAX_FRAME_CURSORS;
    assert!(count * 4 + 8 <= MAX_DATAGRAM);
    let mut bytes = vec![VERSION, 1, 1];
    bytes.extend(varint(count as u64));
    for i in 0..count {
        bytes.extend([(i % 200) as u8, 0, 5, 5]);
    }
    bytes.push(0);
    let (result, allocated) = allocated_by(|| decode_frame(&bytes));
    assert_eq!(result.expect("valid").cursors.len(), count);
    assert!(allocated <= DECODE_LIMIT, "allocated {allocated} bytes");
}

#[test]
fn rosters_claiming_huge_lists_or_names_allocate_nothing_big() {
    for claimed in [1_000u64, 100_000, u32::MAX.into(), u64::MAX] {
        // A member list, then a name, claiming more than the bytes hold.
        let mut members = vec![ROSTER_VERSION, 0];
        members.extend(varint(claimed));
        members.extend([0u8; 16]);
        let mut name = vec![ROSTER_VERSION, 0, 1, 1, 0, 1];
        name.extend(varint(claimed));
        name.extend([b'a'; 16]);
        for bytes in [members, name] {
            let (result, allocated) = allocated_by(|| decode_roster(&bytes));
            assert_eq!(result, Err(DecodeError::Malformed), "claimed {claimed}");
            assert!(
                allocated <= ROSTER_DECODE_LIMIT,
                "claimed {claimed}: allocated {allocated} bytes"
            );
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(20_000))]

    #[test]
    fn arbitrary_bytes_never_panic_nor_overallocate(bytes in proptest::collection::vec(any::<u8>(), 0..1400)) {
        let (_, allocated) = allocated_by(|| {
            let _ = decode_frame(&bytes);
            let _ = decode_uplink(&bytes);
        });
        prop_assert!(allocated <= DECODE_LIMIT, "allocated {} bytes", allocated);
        let (_, allocated) = allocated_by(|| decode_roster(&bytes));
        prop_assert!(allocated <= ROSTER_DECODE_LIMIT, "allocated {} bytes", allocated);
    }

    #[test]
    fn versioned_noise_never_panics(tail in proptest::collection::vec(any::<u8>(), 0..40)) {
        let mut bytes = vec![VERSION];
        bytes.extend(tail);
        let _ = decode_frame(&bytes);
        let _ = decode_uplink(&bytes);
        bytes[0] = ROSTER_VERSION;
        let _ = decode_roster(&bytes);
    }
}
