//! Wire types of the Ovasabi Edge cursor channel, shared by the server, the load
//! generator and the tests. No I/O lives here.
//!
//! Two messages, both bincode 2 with `config::standard()` (little-endian
//! varints), both starting with the version byte [`VERSION`]:
//!
//! - [`Uplink`]: one pointer sample from a visitor (client → server).
//! - [`Frame`]: what changed in a room since the last tick (server → every
//!   visitor), split by [`split_frame`] so that no datagram exceeds
//!   [`MAX_DATAGRAM`] bytes.
//!
//! `README.md` beside this crate documents the byte layout; `vectors.json`
//! holds golden vectors that the Rust and the JavaScript tests both check.
//!
//! # Layout
//! - [`Uplink`], [`Frame`], [`Cursor`], [`PointerKind`]: the messages.
//! - [`encode_uplink`], [`decode_uplink`], [`encode_frame`], [`decode_frame`]:
//!   the codec; decoding never panics and allocates at most [`DECODE_LIMIT`].
//! - [`split_frame`]: a tick's changes as datagrams under the size limit.
//! - [`quantize`], [`dequantize`]: page coordinates to and from `u16`.

use serde::{Deserialize, Serialize};

/// Version tag: the first byte of every message.
pub const VERSION: u8 = 1;
/// Largest datagram the server sends.
pub const MAX_DATAGRAM: usize = 1100;
/// Largest uplink accepted (a real one is at most 13 bytes).
pub const MAX_UPLINK: usize = 32;
/// Most bytes decoding one message may allocate, whatever lengths it claims.
pub const DECODE_LIMIT: usize = 4096;
/// Most cursors in one frame datagram.
pub const MAX_FRAME_CURSORS: usize = 256;
/// Most removed ids in one frame datagram.
pub const MAX_FRAME_REMOVED: usize = 512;

/// What the pointer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PointerKind {
    /// Moved (mouse or finger).
    Move,
    /// Tapped or clicked.
    Tap,
    /// Left the page.
    Leave,
}

/// One pointer sample, client → server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uplink {
    /// Always [`VERSION`].
    pub version: u8,
    /// The client's sample counter (wraps); lets the server drop stale samples.
    pub seq: u32,
    /// What the pointer did.
    pub kind: PointerKind,
    /// Horizontal position, quantized over the page width.
    pub x: u16,
    /// Vertical position, quantized over the page height.
    pub y: u16,
}

/// One visitor's pointer in a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cursor {
    /// Small id of the visitor in this room (reused after they leave).
    pub id: u32,
    /// What the pointer did last.
    pub kind: PointerKind,
    /// Horizontal position, quantized.
    pub x: u16,
    /// Vertical position, quantized.
    pub y: u16,
}

/// What changed in a room at one tick, server → every visitor of the room.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Frame {
    /// Always [`VERSION`].
    pub version: u8,
    /// The room's tick counter (all parts of one tick share it).
    pub tick: u32,
    /// Visitors in the room now (exact, whatever the cursors shown).
    pub presence: u32,
    /// Cursors that changed, most recently active first.
    #[serde(deserialize_with = "bounded::<_, _, MAX_FRAME_CURSORS>")]
    pub cursors: Vec<Cursor>,
    /// Ids of visitors who left.
    #[serde(deserialize_with = "bounded::<_, _, MAX_FRAME_REMOVED>")]
    pub removed: Vec<u32>,
}

/// A list of at most `MAX` items, refused before allocating when it claims more.
fn bounded<'de, D, T, const MAX: usize>(de: D) -> Result<Vec<T>, D::Error>
where
    D: serde::Deserializer<'de>,
    T: Deserialize<'de>,
{
    struct Bounded<T, const MAX: usize>(std::marker::PhantomData<T>);

    impl<'de, T: Deserialize<'de>, const MAX: usize> serde::de::Visitor<'de> for Bounded<T, MAX> {
        type Value = Vec<T>;

        fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "a list of at most {MAX} items")
        }

        fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Vec<T>, A::Error> {
            let claimed = seq.size_hint().unwrap_or(0);
            if claimed > MAX {
                return Err(serde::de::Error::invalid_length(claimed, &self));
            }
            let mut items = Vec::with_capacity(claimed);
            while let Some(item) = seq.next_element()? {
                if items.len() == MAX {
                    return Err(serde::de::Error::invalid_length(MAX + 1, &self));
                }
                items.push(item);
            }
            Ok(items)
        }
    }

    de.deserialize_seq(Bounded::<T, MAX>(std::marker::PhantomData))
}

/// Why bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Empty, too long, or not of our version.
    #[error("unsupported version or size")]
    Version,
    /// Not a valid message of this version.
    #[error("malformed message")]
    Malformed,
}

fn config() -> impl bincode::config::Config {
    bincode::config::standard().with_limit::<DECODE_LIMIT>()
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], max_len: usize) -> Result<T, DecodeError> {
    if bytes.len() > max_len || bytes.first() != Some(&VERSION) {
        return Err(DecodeError::Version);
    }
    match bincode::serde::decode_from_slice::<T, _>(bytes, config()) {
        Ok((value, used)) if used == bytes.len() => Ok(value),
        _ => Err(DecodeError::Malformed),
    }
}

fn encode<T: Serialize>(value: &T) -> Vec<u8> {
    bincode::serde::encode_to_vec(value, bincode::config::standard())
        .expect("encoding into a Vec cannot fail")
}

/// Encodes an uplink.
pub fn encode_uplink(uplink: &Uplink) -> Vec<u8> {
    encode(uplink)
}

/// Decodes an uplink; never panics.
pub fn decode_uplink(bytes: &[u8]) -> Result<Uplink, DecodeError> {
    decode(bytes, MAX_UPLINK)
}

/// Encodes a frame (one datagram: see [`split_frame`] for the size limit).
pub fn encode_frame(frame: &Frame) -> Vec<u8> {
    encode(frame)
}

/// Decodes a frame; never panics.
pub fn decode_frame(bytes: &[u8]) -> Result<Frame, DecodeError> {
    let frame: Frame = decode(bytes, MAX_DATAGRAM)?;
    Ok(frame)
}

/// Bytes a bincode `standard()` varint takes.
pub fn varint_len(value: u64) -> usize {
    match value {
        0..=250 => 1,
        251..=0xFFFF => 3,
        0x1_0000..=0xFFFF_FFFF => 5,
        _ => 9,
    }
}

/// Encoded size of one cursor.
pub fn cursor_len(cursor: &Cursor) -> usize {
    varint_len(cursor.id.into()) + 1 + varint_len(cursor.x.into()) + varint_len(cursor.y.into())
}

/// Encoded size of a frame's fixed part plus its two length prefixes.
fn header_len(tick: u32, presence: u32, cursors: usize, removed: usize) -> usize {
    1 + varint_len(tick.into())
        + varint_len(presence.into())
        + varint_len(cursors as u64)
        + varint_len(removed as u64)
}

/// A tick's changes as datagrams of at most `max_bytes` (at least 64) each, and
/// at most [`MAX_FRAME_CURSORS`] cursors and [`MAX_FRAME_REMOVED`] removed ids,
/// in order: every part carries the tick and presence; cursors keep their order.
/// No changes at all still make one (presence-only) datagram.
pub fn split_frame(
    tick: u32,
    presence: u32,
    cursors: &[Cursor],
    removed: &[u32],
    max_bytes: usize,
) -> Vec<Vec<u8>> {
    let max_bytes = max_bytes.max(64);
    let mut datagrams = Vec::new();
    let mut part = Frame {
        version: VERSION,
        tick,
        presence,
        cursors: Vec::new(),
        removed: Vec::new(),
    };
    let mut body = 0;
    let fits = |part: &Frame, body: usize, extra: usize, cursors: usize, removed: usize| {
        header_len(
            tick,
            presence,
            part.cursors.len() + cursors,
            part.removed.len() + removed,
        ) + body
            + extra
            <= max_bytes
    };
    for id in removed {
        let extra = varint_len((*id).into());
        if !fits(&part, body, extra, 0, 1) || part.removed.len() == MAX_FRAME_REMOVED {
            datagrams.push(encode_frame(&part));
            part.removed.clear();
            part.cursors.clear();
            body = 0;
        }
        part.removed.push(*id);
        body += extra;
    }
    for cursor in cursors {
        let extra = cursor_len(cursor);
        if !fits(&part, body, extra, 1, 0) || part.cursors.len() == MAX_FRAME_CURSORS {
            datagrams.push(encode_frame(&part));
            part.removed.clear();
            part.cursors.clear();
            body = 0;
        }
        part.cursors.push(*cursor);
        body += extra;
    }
    if datagrams.is_empty() || !part.cursors.is_empty() || !part.removed.is_empty() {
        datagrams.push(encode_frame(&part));
    }
    datagrams
}

/// A position in `0.0..=1.0` of the page as `u16` (clamped; NaN is 0).
pub fn quantize(fraction: f64) -> u16 {
    if fraction.is_nan() {
        return 0;
    }
    (fraction.clamp(0.0, 1.0) * f64::from(u16::MAX)).round() as u16
}

/// A quantized position back as a fraction of the page.
pub fn dequantize(value: u16) -> f64 {
    f64::from(value) / f64::from(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cursor(id: u32, x: u16, y: u16) -> Cursor {
        Cursor {
            id,
            kind: PointerKind::Move,
            x,
            y,
        }
    }

    #[test]
    fn round_trips_and_sizes() {
        let uplink = Uplink {
            version: VERSION,
            seq: 70_000,
            kind: PointerKind::Tap,
            x: 40_000,
            y: 12,
        };
        let bytes = encode_uplink(&uplink);
        assert_eq!(decode_uplink(&bytes), Ok(uplink));
        assert!(bytes.len() <= 13);
        let frame = Frame {
            version: VERSION,
            tick: 9,
            presence: 3,
            cursors: vec![cursor(1, 300, 7), cursor(300, 65_535, 65_535)],
            removed: vec![4],
        };
        let bytes = encode_frame(&frame);
        assert_eq!(decode_frame(&bytes), Ok(frame.clone()));
        assert_eq!(
            bytes.len(),
            header_len(9, 3, 2, 1) + frame.cursors.iter().map(cursor_len).sum::<usize>() + 1,
            "size accounting is exact"
        );
    }

    #[test]
    fn wrong_version_size_or_trailing_bytes_are_refused() {
        let mut bytes = encode_uplink(&Uplink {
            version: VERSION,
            seq: 1,
            kind: PointerKind::Move,
            x: 1,
            y: 1,
        });
        bytes.push(0);
        assert_eq!(decode_uplink(&bytes), Err(DecodeError::Malformed));
        bytes[0] = 2;
        assert_eq!(decode_uplink(&bytes), Err(DecodeError::Version));
        assert_eq!(decode_uplink(&[]), Err(DecodeError::Version));
        assert_eq!(decode_uplink(&[VERSION; 64]), Err(DecodeError::Version));
        assert_eq!(
            decode_frame(&[VERSION, 0, 0, 0xFE]),
            Err(DecodeError::Malformed)
        );
    }

    #[test]
    fn frames_split_under_the_limit_and_keep_everything() {
        let cursors: Vec<_> = (0..1000u32)
            .map(|i| cursor(i, (i * 61) as u16, 65_000))
            .collect();
        let removed: Vec<u32> = (0..1300).collect();
        let parts = split_frame(77, 1300, &cursors, &removed, MAX_DATAGRAM);
        assert!(parts.len() > 1);
        let mut seen_cursors = Vec::new();
        let mut seen_removed = Vec::new();
        for part in &parts {
            assert!(part.len() <= MAX_DATAGRAM, "{} bytes", part.len());
            let frame = decode_frame(part).expect("each part decodes alone");
            assert!(
                frame.cursors.len() <= MAX_FRAME_CURSORS
                    && frame.removed.len() <= MAX_FRAME_REMOVED
            );
            assert_eq!((frame.tick, frame.presence), (77, 1300));
            seen_cursors.extend(frame.cursors);
            seen_removed.extend(frame.removed);
        }
        assert_eq!(seen_cursors, cursors);
        assert_eq!(seen_removed, removed);
        assert_eq!(
            split_frame(1, 0, &[], &[], MAX_DATAGRAM).len(),
            1,
            "presence-only"
        );
    }

    #[test]
    fn quantization() {
        assert_eq!(quantize(0.0), 0);
        assert_eq!(quantize(1.0), u16::MAX);
        assert_eq!(quantize(2.0), u16::MAX);
        assert_eq!(quantize(-1.0), 0);
        assert_eq!(quantize(f64::NAN), 0);
        assert!((dequantize(quantize(0.5)) - 0.5).abs() < 1e-4);
    }
}
