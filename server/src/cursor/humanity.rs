//! A private guess, per session, at whether a pointer was moved by a
//! person's hand or by a script. It is one hint for a human reviewer and
//! never blocks anyone on its own.
//!
//! # What goes in
//!
//! Only what each pointer uplink already carries: the position (`x`, `y`,
//! scaled so that 0..=65535 spans the page width and height) and when the
//! server received it. The client sends at most about 30 samples a second,
//! and only when the pointer moved. A "step" is the move from one sample to
//! the next. A gap of more than 250 ms means the hand rested: it ends one
//! movement, and the step across the gap is not used.
//!
//! # What is measured
//!
//! 1. **Bending.** For two steps in a row, each at least 8 units long, the
//!    change of direction. It counts as a turn when it is more than 2°, plus
//!    the most that rounding positions to whole units could fake (√2 / length
//!    of each of the two steps, in radians; 8 units is about a sixth of a
//!    pixel across a 1400 px wide page). `bending` = turns / direction
//!    changes measured. A hand never moves in a perfectly straight line; a
//!    script drawing lines does, and the rounding allowance makes sure such
//!    a line scores exactly 0 here. Sub-score: 0 at `bending` ≤ 0.03, 1 at
//!    ≥ 0.15, in a straight line between.
//! 2. **Smooth speed.** The length of each step (how far the pointer went
//!    between two uplinks, which the client sends at a steady rate while
//!    moving). `roughness` = average of (change of step length between two
//!    steps in a row)² / (2 × variance of all step lengths). A hand speeds up
//!    and slows down smoothly within each reach, so neighbouring steps are
//!    alike and `roughness` is small (0.02 to 0.14 for simulated people).
//!    Steps that only jitter around a fixed speed, as with a script or added
//!    noise, give about 1. Step lengths that vary by less than 1 % of their
//!    average count as `roughness` 1. Sub-score: 1 at `roughness`
//!    ≤ 0.20, 0 at ≥ 0.40, in a straight line between. Step lengths are used
//!    rather than distance over arrival time, because network delay jitters
//!    the arrival times and would make a person's speed look rough.
//! 3. **Time on page.** When the last sample arrived, counted from when the
//!    member joined. Sub-score: 0 at ≤ 0.5 s, 1 at ≥ 2 s, in a straight line
//!    between.
//!
//! **Score = the lowest of the three sub-scores**, so each signal has to look
//! human. 1 means "moved like a person", 0 "moved like a simple script".
//!
//! There is no score (`None`, "unknown", never "bot") until [`MIN_SAMPLES`]
//! samples arrived and at least 10 direction changes and 10 step-length
//! changes could be measured: keyboard, touch and screen-reader users may
//! send few pointer samples or none.
//!
//! Two tempting signals are left out on purpose. Regular timing: network
//! delay makes a script's fixed 33 ms look as uneven as a person's. How often
//! turns flip between left and right: a hand's 8–12 Hz tremor, sampled 30
//! times a second, flips about as often as random noise.
//!
//! # What is kept
//!
//! Nothing of the path itself: only counters and running sums, plus the
//! last sample, the last step and the last step's length, each replaced by
//! the next one. Only the score and the sample count leave the room
//! (`super::scores`), every few seconds while they change and when the
//! member leaves; the database keeps them by session for
//! `OVASABI_HUMANITY_RETENTION_DAYS`.
//!
//! A determined script can imitate all of this; the score only tells the
//! cheap ones apart.

/// Fewest samples that give a score.
pub(crate) const MIN_SAMPLES: u32 = 20;

/// A gap longer than this (ms) ends one movement; the next sample starts another.
const PAUSE_MS: u64 = 250;
/// Steps shorter than this (units) are too coarse to give a direction.
const MIN_HEADING_STEP: f64 = 8.0;
/// A direction change counts as a turn when larger than this (2°, in radians),
/// on top of the rounding allowance.
const TURN_RADIANS: f64 = 2.0 * std::f64::consts::PI / 180.0;
/// Rounding each end of a step to whole units moves it by up to √½ unit, so
/// the step itself may be off by up to √2 units sideways.
const ROUNDING_UNITS: f64 = std::f64::consts::SQRT_2;
/// Fewest direction changes, and fewest step-length changes, worth judging.
const MIN_MEASURES: u64 = 10;
/// Step lengths varying less than this fraction of their mean are machine-flat.
const FLAT_VARIATION: f64 = 0.01;

/// What one pointer's uplinks say about how it moved (O(1) memory).
#[derive(Debug, Clone, Default)]
pub(crate) struct Humanity {
    samples: u32,
    last_sample: Option<(u16, u16, u64)>,
    last_at_ms: u64,
    /// The last step long enough for a direction, within the current movement.
    last_heading_step: Option<(f64, f64)>,
    direction_changes: u64,
    turns: u64,
    /// Running mean and sum of squared deviations of step lengths (Welford).
    step_count: u64,
    step_mean: f64,
    step_square_deviations: f64,
    /// The last step's length, within the current movement.
    last_step_length: Option<f64>,
    step_changes: u64,
    step_change_square_sum: f64,
}

impl Humanity {
    /// Takes one pointer sample at `x`, `y` that arrived `at_ms` milliseconds after the member joined (non-decreasing).
    pub(crate) fn sample(&mut self, x: u16, y: u16, at_ms: u64) {
        self.samples = self.samples.saturating_add(1);
        self.last_at_ms = self.last_at_ms.max(at_ms);
        let Some((last_x, last_y, last_ms)) = self.last_sample.replace((x, y, at_ms)) else {
            return;
        };
        if at_ms.saturating_sub(last_ms) > PAUSE_MS {
            // The hand rested: the next reach has nothing to do with the last.
            self.last_heading_step = None;
            self.last_step_length = None;
            return;
        }
        let dx = f64::from(x) - f64::from(last_x);
        let dy = f64::from(y) - f64::from(last_y);
        self.take_direction(dx, dy);
        self.take_step_length(dx.hypot(dy));
    }

    /// Samples taken.
    pub(crate) fn samples(&self) -> u32 {
        self.samples
    }

    /// The score in [0, 1] (1: moved like a person), or None while fewer than MIN_SAMPLES samples were taken.
    ///
    /// Also None while the pointer moved too little to judge (see the module doc).
    pub(crate) fn score(&self) -> Option<f32> {
        if self.samples < MIN_SAMPLES
            || self.direction_changes < MIN_MEASURES
            || self.step_changes < MIN_MEASURES
        {
            return None;
        }
        let bending = ramp(self.bending(), 0.03, 0.15);
        let smooth_speed = ramp(self.roughness(), 0.40, 0.20);
        let time_on_page = ramp(self.last_at_ms as f64, 500.0, 2000.0);
        Some(bending.min(smooth_speed).min(time_on_page) as f32)
    }

    /// Share of measured direction changes that were real turns.
    fn bending(&self) -> f64 {
        self.turns as f64 / self.direction_changes as f64
    }

    /// How much step lengths jump between neighbours compared with how much
    /// they vary overall: about 1 for random jitter, near 0 for smooth change.
    fn roughness(&self) -> f64 {
        let variance = self.step_square_deviations / self.step_count as f64;
        if variance.sqrt() <= FLAT_VARIATION * self.step_mean {
            return 1.0;
        }
        let mean_square_change = self.step_change_square_sum / self.step_changes as f64;
        mean_square_change / (2.0 * variance)
    }

    fn take_direction(&mut self, dx: f64, dy: f64) {
        let length = dx.hypot(dy);
        if length < MIN_HEADING_STEP {
            return;
        }
        if let Some((last_dx, last_dy)) = self.last_heading_step {
            let last_length = last_dx.hypot(last_dy);
            let turn = (last_dx * dy - last_dy * dx).atan2(last_dx * dx + last_dy * dy);
            let allowance = ROUNDING_UNITS / last_length + ROUNDING_UNITS / length;
            self.direction_changes += 1;
            if turn.abs() > TURN_RADIANS + allowance {
                self.turns += 1;
            }
        }
        self.last_heading_step = Some((dx, dy));
    }

    fn take_step_length(&mut self, length: f64) {
        self.step_count += 1;
        let deviation = length - self.step_mean;
        self.step_mean += deviation / self.step_count as f64;
        self.step_square_deviations += deviation * (length - self.step_mean);
        if let Some(last_length) = self.last_step_length {
            self.step_changes += 1;
            self.step_change_square_sum += (length - last_length).powi(2);
        }
        self.last_step_length = Some(length);
    }
}

/// 0 at `zero_at`, 1 at `one_at`, linear between and clamped outside; works
/// in either direction.
fn ramp(value: f64, zero_at: f64, one_at: f64) -> f64 {
    ((value - zero_at) / (one_at - zero_at)).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::super::humanity_paths as paths;

    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};

    use super::*;

    type Generator = fn(u64) -> Vec<paths::Sample>;

    const SCRIPTS: [(&str, Generator); 3] = [
        ("straight_fixed", paths::straight_fixed),
        ("straight_random", paths::straight_random),
        ("piecewise_noise", paths::piecewise_noise),
    ];

    fn track(samples: &[paths::Sample]) -> Humanity {
        let mut humanity = Humanity::default();
        for &(at_ms, x, y) in samples {
            humanity.sample(x, y, at_ms);
        }
        humanity
    }

    fn score(samples: &[paths::Sample]) -> f32 {
        track(samples).score().expect("enough samples for a score")
    }

    /// Shifts every arrival by up to ±2 ms, as loopback networking does,
    /// keeping arrivals in order.
    fn with_jitter(samples: &[paths::Sample], seed: u64) -> Vec<paths::Sample> {
        let mut rng = StdRng::seed_from_u64(seed);
        let mut last_ms = 0;
        samples
            .iter()
            .map(|&(at_ms, x, y)| {
                let shifted = at_ms.saturating_add_signed(rng.random_range(-2..=2));
                last_ms = shifted.max(last_ms);
                (last_ms, x, y)
            })
            .collect()
    }

    fn assert_valid(humanity: &Humanity) {
        if let Some(score) = humanity.score() {
            assert!(score.is_finite() && (0.0..=1.0).contains(&score), "{score}");
        }
    }

    #[test]
    fn people_score_high_and_scripts_low() {
        for seed in 0..50 {
            let human = score(&paths::human(seed));
            assert!(human >= 0.7, "human seed {seed}: {human}");
            for (name, script) in SCRIPTS {
                let bot = score(&script(seed));
                assert!(bot <= 0.3, "{name} seed {seed}: {bot}");
            }
        }
    }

    #[test]
    fn the_margins_are_comfortable() {
        for seed in 0..50 {
            let human = track(&paths::human(seed));
            // Twice the bending, and well under the roughness, that earn full marks.
            assert!(human.bending() >= 0.30, "human seed {seed}");
            assert!(human.roughness() <= 0.12, "human seed {seed}");
            for (name, script) in SCRIPTS {
                let bot = track(&script(seed));
                // Each script fails at least one signal by a wide margin.
                let straight = bot.bending() == 0.0;
                let rough = bot.roughness() >= 0.6;
                assert!(straight || rough, "{name} seed {seed}");
            }
        }
    }

    #[test]
    fn loopback_jitter_keeps_the_verdict() {
        for seed in 0..50 {
            let human = score(&with_jitter(&paths::human(seed), seed));
            assert!(human >= 0.7, "human seed {seed}: {human}");
            let bot = score(&with_jitter(&paths::straight_fixed(seed), seed));
            assert!(bot <= 0.3, "straight_fixed seed {seed}: {bot}");
        }
    }

    #[test]
    fn too_few_samples_is_unknown() {
        let samples = paths::human(7);
        let few = &samples[..MIN_SAMPLES as usize - 1];
        let humanity = track(few);
        assert_eq!(humanity.samples(), MIN_SAMPLES - 1);
        assert_eq!(humanity.score(), None);
        assert_eq!(Humanity::default().score(), None);
    }

    #[test]
    fn a_pointer_that_never_moved_is_unknown() {
        let still: Vec<_> = (0..200).map(|i| (1000 + 33 * i, 30_000, 20_000)).collect();
        let humanity = track(&still);
        assert_eq!(humanity.samples(), 200);
        assert_eq!(humanity.score(), None);
    }

    #[test]
    fn degenerate_input_stays_in_range() {
        let same_time: Vec<_> = (0..100).map(|i| (5000, 300 * i, 200 * i)).collect();
        let no_time: Vec<_> = (0..100).map(|i| (0, 300 * i, 6 * i * i)).collect();
        let jumps: Vec<_> = (0..100)
            .map(|i| (3000 + i, if i % 2 == 0 { 0 } else { u16::MAX }, u16::MAX))
            .collect();
        let backwards: Vec<_> = (0..100)
            .map(|i| (10_000 - 50 * i, (i * 97 % 600) as u16 * 100, 0))
            .collect();
        let mut stuttering = paths::human(3);
        for sample in stuttering.iter_mut().skip(1).step_by(2) {
            sample.0 = 0;
        }
        for samples in [same_time, no_time, jumps, backwards] {
            let humanity = track(&samples);
            assert!(humanity.score().is_some(), "moved enough to judge");
            assert_valid(&humanity);
        }
        assert_valid(&track(&stuttering));
    }

    #[test]
    fn every_prefix_stays_in_range() {
        for generator in [paths::human as Generator, paths::piecewise_noise] {
            let mut humanity = Humanity::default();
            for (at_ms, x, y) in generator(11) {
                humanity.sample(x, y, at_ms);
                assert_valid(&humanity);
            }
        }
    }
}
