//! Made-up pointer paths for testing the humanity score, as the server would
//! receive them: `(at_ms, x, y)` with `at_ms` counted from when the member
//! joined and `x`, `y` quantized so that 0..=65535 spans the page width and
//! height. Every generator is deterministic for a given seed and gives about
//! three seconds of movement.
//!
//! The person model ([`human`]) is a chain of reaches between random targets
//! in the visible part of the page. Each reach follows the minimum-jerk
//! profile s(τ) = 10τ³ − 15τ⁴ + 6τ⁵ (the smooth speed-up and slow-down seen
//! in real arm movements), lasts 300–900 ms growing with the logarithm of the
//! distance (Fitts' law), and bows sideways by 2–6 % of its length. On top
//! ride an 8–12 Hz physiological tremor of 1–2 px and a little random noise.
//! Between reaches the pointer rests for 150–600 ms and sends nothing. The
//! browser reads the pointer once per display frame (60 Hz), the client sends
//! at most one uplink per 33 ms and only when the rounded position changed,
//! and each uplink arrives a few milliseconds late.
//!
//! The scripts are what a cheap bot does: a straight line at fixed intervals
//! ([`straight_fixed`]), the same line at random intervals
//! ([`straight_random`]), and a noisy zig-zag through random waypoints
//! ([`piecewise_noise`]).

use std::f64::consts::PI;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// One uplink as the server receives it: arrival in ms since join, x, y.
pub(crate) type Sample = (u64, u16, u16);

/// The largest quantized coordinate; it maps to the far page edge.
const FULL_SCALE: f64 = 65535.0;
/// Time between display frames at 60 Hz.
const FRAME_MS: f64 = 1000.0 / 60.0;
/// The client's throttle: at most one uplink per this many ms.
const THROTTLE_MS: f64 = 33.0;
/// How long each generated path keeps moving.
const MOVEMENT_MS: f64 = 3000.0;

/// A person moving a mouse between random targets (see the module doc).
pub(crate) fn human(seed: u64) -> Vec<Sample> {
    let mut rng = StdRng::seed_from_u64(seed);
    let page = Page::random(&mut rng);
    let tremor = Tremor::random(&mut rng);
    let mut client = Client::new(&mut rng);
    let start_ms = rng.random_range(400.0..1500.0);
    let mut clock_ms = start_ms;
    let mut from = page.random_point(&mut rng);
    while clock_ms - start_ms < MOVEMENT_MS {
        let to = page.random_target(from, &mut rng);
        let reach = Reach::new(from, to, clock_ms, &mut rng);
        reach.play(&page, &tremor, &mut client, &mut rng);
        clock_ms = reach.end_ms() + rng.random_range(150.0..600.0);
        from = to;
    }
    client.sent
}

/// A script drawing a straight line across the page, one sample every 33 ms.
pub(crate) fn straight_fixed(seed: u64) -> Vec<Sample> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (from, to) = random_line(&mut rng);
    let start_ms = rng.random_range(300..1500);
    let steps = (MOVEMENT_MS / 33.0) as u64;
    (0..=steps)
        .map(|step| {
            let (x, y) = lerp(from, to, step as f64 / steps as f64);
            (start_ms + 33 * step, quantize(x), quantize(y))
        })
        .collect()
}

/// The same straight line as [`straight_fixed`], at random 10–120 ms intervals.
pub(crate) fn straight_random(seed: u64) -> Vec<Sample> {
    let mut rng = StdRng::seed_from_u64(seed);
    let (from, to) = random_line(&mut rng);
    let start_ms = rng.random_range(300..1500);
    let mut samples = Vec::new();
    let mut elapsed_ms = 0;
    while elapsed_ms as f64 <= MOVEMENT_MS {
        let (x, y) = lerp(from, to, elapsed_ms as f64 / MOVEMENT_MS);
        samples.push((start_ms + elapsed_ms, quantize(x), quantize(y)));
        elapsed_ms += rng.random_range(10..=120);
    }
    samples
}

/// A script walking at constant speed through 4–6 random waypoints, with
/// uniform noise of ±2–6 px added to every sample; even seeds send every
/// 33 ms, odd seeds at random 10–120 ms intervals.
pub(crate) fn piecewise_noise(seed: u64) -> Vec<Sample> {
    let mut rng = StdRng::seed_from_u64(seed);
    let waypoint_count = rng.random_range(4..=6);
    let waypoints: Vec<(f64, f64)> = (0..waypoint_count)
        .map(|_| {
            let x = rng.random_range(0.05..0.95) * FULL_SCALE;
            let y = rng.random_range(0.05..0.95) * FULL_SCALE;
            (x, y)
        })
        .collect();
    // Noise is in pixels of a typical 1400 px wide page.
    let noise = rng.random_range(2.0..6.0) * FULL_SCALE / 1400.0;
    let fixed_interval = seed.is_multiple_of(2);
    let start_ms = rng.random_range(300..1500);
    let mut samples = Vec::new();
    let mut elapsed_ms = 0;
    while elapsed_ms as f64 <= MOVEMENT_MS {
        let (x, y) = along_polyline(&waypoints, elapsed_ms as f64 / MOVEMENT_MS);
        let x = x + rng.random_range(-noise..=noise);
        let y = y + rng.random_range(-noise..=noise);
        samples.push((start_ms + elapsed_ms, quantize(x), quantize(y)));
        elapsed_ms += if fixed_interval {
            33
        } else {
            rng.random_range(10..=120)
        };
    }
    samples
}

/// The page and the part of it on screen, with the scale from pixels to units.
struct Page {
    units_per_px_x: f64,
    units_per_px_y: f64,
    viewport_top_px: f64,
    viewport_width_px: f64,
    viewport_height_px: f64,
}

impl Page {
    fn random(rng: &mut StdRng) -> Self {
        let width_px = rng.random_range(1000.0..1900.0);
        let viewport_height_px = rng.random_range(650.0..1000.0);
        // Campaign pages scroll: the page is one to four screens tall.
        let height_px = viewport_height_px * rng.random_range(1.0..4.0);
        Page {
            units_per_px_x: FULL_SCALE / width_px,
            units_per_px_y: FULL_SCALE / height_px,
            viewport_top_px: rng.random_range(0.0..=height_px - viewport_height_px),
            viewport_width_px: width_px,
            viewport_height_px,
        }
    }

    /// A random point on screen, away from the edges, in page pixels.
    fn random_point(&self, rng: &mut StdRng) -> (f64, f64) {
        let x = rng.random_range(0.05..0.95) * self.viewport_width_px;
        let y = rng.random_range(0.05..0.95) * self.viewport_height_px;
        (x, self.viewport_top_px + y)
    }

    /// A random on-screen target at least 80 px away from `from`.
    fn random_target(&self, from: (f64, f64), rng: &mut StdRng) -> (f64, f64) {
        loop {
            let to = self.random_point(rng);
            if distance(from, to) >= 80.0 {
                return to;
            }
        }
    }

    fn to_units(&self, (x, y): (f64, f64)) -> (f64, f64) {
        (x * self.units_per_px_x, y * self.units_per_px_y)
    }
}

/// Physiological tremor: a small elliptical wobble at 8–12 Hz, in pixels.
struct Tremor {
    amplitude_px: f64,
    hertz: f64,
    phase_x: f64,
    phase_y: f64,
}

impl Tremor {
    fn random(rng: &mut StdRng) -> Self {
        Tremor {
            amplitude_px: rng.random_range(1.0..2.0),
            hertz: rng.random_range(8.0..12.0),
            phase_x: rng.random_range(0.0..2.0 * PI),
            phase_y: rng.random_range(0.0..2.0 * PI),
        }
    }

    fn offset_px(&self, at_ms: f64) -> (f64, f64) {
        let angle = 2.0 * PI * self.hertz * at_ms / 1000.0;
        (
            self.amplitude_px * (angle + self.phase_x).sin(),
            self.amplitude_px * (angle + self.phase_y).sin(),
        )
    }
}

/// One minimum-jerk reach from `from` to `to` (page pixels), bowed sideways.
struct Reach {
    from: (f64, f64),
    to: (f64, f64),
    start_ms: f64,
    duration_ms: f64,
    bow_px: f64,
}

impl Reach {
    fn new(from: (f64, f64), to: (f64, f64), start_ms: f64, rng: &mut StdRng) -> Self {
        let length = distance(from, to);
        // Fitts' law: time grows with log2(1 + distance / target width).
        let fitts_ms = 100.0 + 130.0 * (1.0 + length / 24.0).log2();
        let duration_ms = (fitts_ms * rng.random_range(0.9..1.1)).clamp(300.0, 900.0);
        let side = if rng.random::<bool>() { 1.0 } else { -1.0 };
        Reach {
            from,
            to,
            start_ms,
            duration_ms,
            bow_px: side * rng.random_range(0.02..0.06) * length,
        }
    }

    fn end_ms(&self) -> f64 {
        self.start_ms + self.duration_ms
    }

    /// Where the hand is `tau` (0..=1) of the way through the reach.
    fn position_px(&self, tau: f64) -> (f64, f64) {
        let s = 10.0 * tau.powi(3) - 15.0 * tau.powi(4) + 6.0 * tau.powi(5);
        let (dx, dy) = (self.to.0 - self.from.0, self.to.1 - self.from.1);
        let length = dx.hypot(dy);
        let (normal_x, normal_y) = (-dy / length, dx / length);
        let bow = self.bow_px * (PI * s).sin();
        (
            self.from.0 + s * dx + bow * normal_x,
            self.from.1 + s * dy + bow * normal_y,
        )
    }

    /// Feeds every display frame of the reach to the client.
    fn play(&self, page: &Page, tremor: &Tremor, client: &mut Client, rng: &mut StdRng) {
        let mut frame = ((self.start_ms - client.frame_phase_ms) / FRAME_MS).ceil();
        loop {
            let at_ms = client.frame_phase_ms + frame * FRAME_MS;
            if at_ms > self.end_ms() {
                return;
            }
            let tau = (at_ms - self.start_ms) / self.duration_ms;
            let (x, y) = self.position_px(tau);
            // The wobble fades in and out: a resting mouse is held by friction.
            let fade = (PI * tau).sin();
            let (wobble_x, wobble_y) = tremor.offset_px(at_ms);
            let x = x + fade * wobble_x + gaussian_ish(rng, 0.3);
            let y = y + fade * wobble_y + gaussian_ish(rng, 0.3);
            client.frame(at_ms, page.to_units((x, y)), rng);
            frame += 1.0;
        }
    }
}

/// The browser side: throttles, drops unchanged positions, and adds delay.
struct Client {
    frame_phase_ms: f64,
    last_sent_ms: f64,
    sent: Vec<Sample>,
}

impl Client {
    fn new(rng: &mut StdRng) -> Self {
        Client {
            frame_phase_ms: rng.random_range(0.0..FRAME_MS),
            last_sent_ms: f64::NEG_INFINITY,
            sent: Vec::new(),
        }
    }

    fn frame(&mut self, at_ms: f64, (x, y): (f64, f64), rng: &mut StdRng) {
        if at_ms - self.last_sent_ms < THROTTLE_MS {
            return;
        }
        let (x, y) = (quantize(x), quantize(y));
        let last = self.sent.last().copied();
        if last.is_some_and(|(_, last_x, last_y)| (last_x, last_y) == (x, y)) {
            return;
        }
        let arrival_ms = (at_ms + rng.random_range(0.0..5.0)).round() as u64;
        let arrival_ms = last.map_or(arrival_ms, |(last_ms, _, _)| arrival_ms.max(last_ms));
        self.last_sent_ms = at_ms;
        self.sent.push((arrival_ms, x, y));
    }
}

/// A line from near the left edge to near the right edge, in units.
fn random_line(rng: &mut StdRng) -> ((f64, f64), (f64, f64)) {
    let from_x = rng.random_range(0.02..0.1) * FULL_SCALE;
    let to_x = rng.random_range(0.9..0.98) * FULL_SCALE;
    let from_y = rng.random_range(0.1..0.9) * FULL_SCALE;
    let to_y = rng.random_range(0.1..0.9) * FULL_SCALE;
    ((from_x, from_y), (to_x, to_y))
}

/// The point `fraction` of the way along the polyline, by length.
fn along_polyline(waypoints: &[(f64, f64)], fraction: f64) -> (f64, f64) {
    let total: f64 = waypoints.windows(2).map(|w| distance(w[0], w[1])).sum();
    let mut remaining = fraction.clamp(0.0, 1.0) * total;
    for pair in waypoints.windows(2) {
        let length = distance(pair[0], pair[1]);
        if remaining <= length && length > 0.0 {
            return lerp(pair[0], pair[1], remaining / length);
        }
        remaining -= length;
    }
    waypoints[waypoints.len() - 1]
}

/// Roughly normal noise (sum of three uniforms) with about this spread.
fn gaussian_ish(rng: &mut StdRng, spread: f64) -> f64 {
    (0..3).map(|_| rng.random_range(-spread..=spread)).sum()
}

fn lerp(from: (f64, f64), to: (f64, f64), fraction: f64) -> (f64, f64) {
    (
        from.0 + fraction * (to.0 - from.0),
        from.1 + fraction * (to.1 - from.1),
    )
}

fn distance(a: (f64, f64), b: (f64, f64)) -> f64 {
    (b.0 - a.0).hypot(b.1 - a.1)
}

fn quantize(units: f64) -> u16 {
    units.round().clamp(0.0, FULL_SCALE) as u16
}
