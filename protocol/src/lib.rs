//! Wire types of the Ovasabi Edge cursor channel, shared by the server, the load
//! generator and the tests. No I/O lives here.
//!
//! Three messages, all bincode 2 with `config::standard()` (little-endian
//! varints), each starting with its version byte:
//!
//! - [`Uplink`]: one pointer sample from a visitor (client → server), a datagram.
//! - [`Frame`]: what changed in a room since the last tick (server → every
//!   visitor), split by [`split_frame`] so that no datagram exceeds
//!   [`MAX_DATAGRAM`] bytes.
//! - [`Roster`] (protocol version 2): who the room's cursors are — the
//!   receiver's own id, and each member's colour and name — sent over a
//!   reliable channel (a WebTransport stream, or the event stream), never only
//!   in a datagram that may be lost. Split by [`split_roster`].
//!
//! Datagrams keep version byte [`VERSION`] (1): a tick's frame is encoded once
//! and serves members of both protocol versions alike. A session asks for
//! version 2 ([`PROTOCOL_VERSION`]) when it connects and then also receives
//! rosters; a version-1 session (an older client, the load generator) gets
//! exactly what it always did.
//!
//! `README.md` beside this crate documents the byte layout; `vectors.json`
//! holds golden vectors that the Rust and the JavaScript tests both check.
//!
//! # Layout
//! - [`Uplink`], [`Frame`], [`Cursor`], [`PointerKind`], [`Roster`],
//!   [`RosterMember`]: the messages.
//! - [`encode_uplink`], [`decode_uplink`], [`encode_frame`], [`decode_frame`],
//!   [`encode_roster`], [`decode_roster`]: the codec; decoding never panics and
//!   allocates at most [`DECODE_LIMIT`] ([`ROSTER_DECODE_LIMIT`] for a roster).
//! - [`split_frame`], [`split_roster`]: changes as messages under the size limit.
//! - [`write_length`], [`read_length`]: the length prefix of a roster on a stream.
//! - [`quantize`], [`dequantize`]: page coordinates to and from `u16`.

use serde::{Deserialize, Serialize};

/// Version tag: the first byte of every datagram (uplinks and frames).
pub const VERSION: u8 = 1;
/// The protocol's version: 2 adds the [`Roster`] (datagrams are unchanged).
pub const PROTOCOL_VERSION: u8 = 2;
/// Version tag: the first byte of every roster.
pub const ROSTER_VERSION: u8 = 2;
/// Largest roster message (the server splits longer ones).
pub const MAX_ROSTER: usize = 8192;
/// Most bytes decoding one roster may allocate.
pub const ROSTER_DECODE_LIMIT: usize = 32 * 1024;
/// Most members one roster message lists.
pub const MAX_ROSTER_MEMBERS: usize = 512;
/// Most departed ids one roster message lists.
pub const MAX_ROSTER_LEFT: usize = 1024;
/// Longest name in a roster, in bytes of UTF-8 (the server shortens longer
/// ones at a character boundary).
pub const MAX_NAME_BYTES: usize = 96;
/// Longest page in a roster, in bytes of UTF-8 (a room's page is at most 200
/// characters).
pub const MAX_PAGE_BYTES: usize = 800;
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

/// One member of a room as its peers see it (protocol version 2).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RosterMember {
    /// The member's cursor id in this room (the `id` of its [`Cursor`]s).
    pub id: u32,
    /// The member's colour: a hue in degrees (0–359), derived from its session.
    pub hue: u16,
    /// Display name, when the member joined and the campaign shows names.
    pub name: Option<String>,
    /// The page the member is on, in a campaign's presence roster when the
    /// campaign shows pages (`None` in a page's own room).
    pub page: Option<String>,
}

/// Who is in a room (protocol version 2), sent reliably: first a snapshot
/// (with the receiver's own id), then what changed, at most once per tick.
/// A roster with `self_id` starts a snapshot: it replaces everything the
/// receiver knew (the messages after it, until the next such one, add to it);
/// the server sends a new snapshot whenever a member skipped ahead.
/// A receiver applies `left` before `joined`; a `joined` id already known
/// replaces what was known of it (ids are reused after a member leaves).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Roster {
    /// Always [`ROSTER_VERSION`].
    pub version: u8,
    /// The receiver's own cursor id: only in the first roster a member gets.
    pub self_id: Option<u32>,
    /// Members who joined (or whose identity changed).
    #[serde(deserialize_with = "bounded::<_, _, MAX_ROSTER_MEMBERS>")]
    pub joined: Vec<RosterMember>,
    /// Ids of members who left.
    #[serde(deserialize_with = "bounded::<_, _, MAX_ROSTER_LEFT>")]
    pub left: Vec<u32>,
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
    /// A length prefix that says more than the largest message.
    #[error("message too long")]
    TooLong,
    /// Not a valid message of this version.
    #[error("malformed message")]
    Malformed,
}

fn decode<T: serde::de::DeserializeOwned>(bytes: &[u8], max_len: usize) -> Result<T, DecodeError> {
    decode_version::<T, DECODE_LIMIT>(bytes, max_len, VERSION)
}

fn decode_version<T: serde::de::DeserializeOwned, const LIMIT: usize>(
    bytes: &[u8],
    max_len: usize,
    version: u8,
) -> Result<T, DecodeError> {
    if bytes.len() > max_len || bytes.first() != Some(&version) {
        return Err(DecodeError::Version);
    }
    let config = bincode::config::standard().with_limit::<LIMIT>();
    match bincode::serde::decode_from_slice::<T, _>(bytes, config) {
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

/// Encodes a roster (one message: see [`split_roster`] for the size limit).
pub fn encode_roster(roster: &Roster) -> Vec<u8> {
    encode(roster)
}

/// Decodes a roster; never panics. Names longer than [`MAX_NAME_BYTES`] are
/// refused.
pub fn decode_roster(bytes: &[u8]) -> Result<Roster, DecodeError> {
    let roster: Roster =
        decode_version::<_, ROSTER_DECODE_LIMIT>(bytes, MAX_ROSTER, ROSTER_VERSION)?;
    let long = |m: &RosterMember| {
        m.name.as_ref().is_some_and(|n| n.len() > MAX_NAME_BYTES)
            || m.page.as_ref().is_some_and(|p| p.len() > MAX_PAGE_BYTES)
    };
    if roster.joined.iter().any(long) {
        return Err(DecodeError::Malformed);
    }
    Ok(roster)
}

/// `name` shortened to at most [`MAX_NAME_BYTES`] at a character boundary.
pub fn roster_name(name: &str) -> String {
    shorten(name, MAX_NAME_BYTES)
}

/// `text` shortened to at most `max` bytes at a character boundary.
fn shorten(text: &str, max: usize) -> String {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

/// Encoded size of one roster member.
fn member_len(member: &RosterMember) -> usize {
    let text = |t: &Option<String>| {
        t.as_ref()
            .map_or(1, |t| 1 + varint_len(t.len() as u64) + t.len())
    };
    varint_len(member.id.into())
        + varint_len(member.hue.into())
        + text(&member.name)
        + text(&member.page)
}

/// A roster as messages of at most `max_bytes` (at least 2 048, names
/// shortened to [`MAX_NAME_BYTES`], pages to [`MAX_PAGE_BYTES`]) and the per-message list caps: `self_id`
/// in the first, `left` before `joined`, order kept. Nothing at all still
/// makes one message when `self_id` is given; otherwise none.
pub fn split_roster(
    self_id: Option<u32>,
    joined: &[RosterMember],
    left: &[u32],
    max_bytes: usize,
) -> Vec<Vec<u8>> {
    let max_bytes = max_bytes.max(2048);
    let mut messages = Vec::new();
    let mut part = Roster {
        version: ROSTER_VERSION,
        self_id,
        joined: Vec::new(),
        left: Vec::new(),
    };
    // version, self_id (tag + varint), two list lengths (at most 3 bytes each).
    let header = 1 + 1 + self_id.map_or(0, |id| varint_len(id.into())) + 3 + 3;
    let mut size = header;
    let mut flush = |part: &mut Roster, size: &mut usize| {
        messages.push(encode_roster(part));
        part.self_id = None;
        part.joined.clear();
        part.left.clear();
        *size = 1 + 1 + 3 + 3;
    };
    for id in left {
        let extra = varint_len((*id).into());
        if size + extra > max_bytes || part.left.len() == MAX_ROSTER_LEFT {
            flush(&mut part, &mut size);
        }
        part.left.push(*id);
        size += extra;
    }
    for member in joined {
        let member = RosterMember {
            name: member.name.as_deref().map(roster_name),
            page: member.page.as_deref().map(|p| shorten(p, MAX_PAGE_BYTES)),
            ..member.clone()
        };
        let extra = member_len(&member);
        if size + extra > max_bytes || part.joined.len() == MAX_ROSTER_MEMBERS {
            flush(&mut part, &mut size);
        }
        size += extra;
        part.joined.push(member);
    }
    if part.self_id.is_some() || !part.joined.is_empty() || !part.left.is_empty() {
        flush(&mut part, &mut size);
    }
    messages
}

/// Appends the length prefix of a `len`-byte message on a stream: a bincode
/// `standard()` varint, the same encoding as every integer of the protocol.
pub fn write_length(out: &mut Vec<u8>, len: usize) {
    out.extend(encode(&u32::try_from(len).unwrap_or(u32::MAX)));
}

/// Reads a length prefix at the start of `bytes`: `Ok(None)` when more bytes
/// are needed, else the message length and the prefix's own length. A length
/// over [`MAX_ROSTER`] is [`DecodeError::TooLong`].
pub fn read_length(bytes: &[u8]) -> Result<Option<(usize, usize)>, DecodeError> {
    let Some(&first) = bytes.first() else {
        return Ok(None);
    };
    let (len, used) = match first {
        0..=250 => (u64::from(first), 1),
        251 => match bytes.get(1..3) {
            Some(b) => (u64::from(u16::from_le_bytes([b[0], b[1]])), 3),
            None => return Ok(None),
        },
        252 => match bytes.get(1..5) {
            Some(b) => (u64::from(u32::from_le_bytes([b[0], b[1], b[2], b[3]])), 5),
            None => return Ok(None),
        },
        _ => return Err(DecodeError::TooLong),
    };
    if len > MAX_ROSTER as u64 {
        return Err(DecodeError::TooLong);
    }
    Ok(Some((len as usize, used)))
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

    fn member(id: u32, name: Option<&str>) -> RosterMember {
        RosterMember {
            id,
            hue: (id * 37 % 360) as u16,
            name: name.map(str::to_owned),
            page: id.is_multiple_of(2).then(|| format!("/page/{id}")),
        }
    }

    #[test]
    fn rosters_round_trip_split_and_shorten_names() {
        let roster = Roster {
            version: ROSTER_VERSION,
            self_id: Some(3),
            joined: vec![member(1, Some("Ada")), member(300, None)],
            left: vec![7],
        };
        let bytes = encode_roster(&roster);
        assert_eq!(decode_roster(&bytes), Ok(roster.clone()));
        assert_eq!(
            split_roster(Some(3), &roster.joined, &[7], MAX_ROSTER),
            vec![bytes]
        );
        assert!(split_roster(None, &[], &[], MAX_ROSTER).is_empty());
        // 2 000 members with long names: several messages, each under the
        // limit and the caps, self only in the first, everything kept.
        let long = "é".repeat(100);
        let joined: Vec<_> = (0..2000).map(|i| member(i, Some(&long))).collect();
        let left: Vec<u32> = (5000..6500).collect();
        let parts = split_roster(Some(9), &joined, &left, MAX_ROSTER);
        assert!(parts.len() > 2);
        let (mut seen_joined, mut seen_left) = (Vec::new(), Vec::new());
        for (i, part) in parts.iter().enumerate() {
            assert!(part.len() <= MAX_ROSTER, "{} bytes", part.len());
            let roster = decode_roster(part).expect("each part decodes alone");
            assert_eq!(roster.self_id, (i == 0).then_some(9));
            seen_joined.extend(roster.joined);
            seen_left.extend(roster.left);
        }
        assert_eq!(seen_left, left);
        assert_eq!(seen_joined.len(), 2000);
        let name = seen_joined[0].name.as_deref().expect("named");
        assert!(name.len() <= MAX_NAME_BYTES && long.starts_with(name));
        // A datagram is not a roster, nor a roster of another version.
        assert_eq!(
            decode_roster(&[VERSION, 0, 0, 0]),
            Err(DecodeError::Version)
        );
    }

    #[test]
    fn length_prefixes() {
        for len in [0usize, 250, 251, 8192] {
            let mut out = Vec::new();
            write_length(&mut out, len);
            assert_eq!(read_length(&out), Ok(Some((len, out.len()))));
            assert_eq!(read_length(&out[..out.len() - 1]), Ok(None));
        }
        let mut out = Vec::new();
        write_length(&mut out, MAX_ROSTER + 1);
        assert_eq!(read_length(&out), Err(DecodeError::TooLong));
        assert_eq!(read_length(&[253, 0]), Err(DecodeError::TooLong));
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
