//! The soak's accounting: what was acknowledged against what arrived, a
//! table of it, and the verdict (every problem named).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;
use serde_json::Value;

use super::cluster::Instance;
use super::cursors::CursorCounts;
use super::feed::{Deliveries, Feed};
use super::forms::{Joins, Leads, lead_name};
use super::streams::StreamLog;

/// The peak resident memory an instance may reach.
pub const PEAK_LIMIT_MIB: f64 = 300.0;
/// How much an instance's memory at the end may exceed its memory at minute 2.
pub const GROWTH_LIMIT: f64 = 1.2;
/// A stream must have received a join acknowledged this long before it closed.
const DELIVERY_GRACE: Duration = Duration::from_secs(5);

/// What the accounting reads.
pub struct Accounts<'a> {
    /// When the load began.
    pub started: tokio::time::Instant,
    /// How long the load lasted.
    pub seconds: f64,
    /// What was injected, in order.
    pub faults: Vec<String>,
    /// The joins.
    pub joins: &'a Joins,
    /// The leads.
    pub leads: &'a Leads,
    /// The leads the server lists at the end.
    pub stored_leads: &'a [Value],
    /// The outbox's webhook entries at the end.
    pub outbox: &'a [Value],
    /// The outbox's mail entries at the end (waiting: no SMTP server here).
    pub mails: usize,
    /// What the webhook receiver got.
    pub deliveries: &'a Deliveries,
    /// What the feed follower handled.
    pub feed: &'a Feed,
    /// What each stream received.
    pub streams: &'a [Arc<Mutex<StreamLog>>],
    /// What the cursor sessions did.
    pub cursors: &'a CursorCounts,
    /// Cursor sessions run.
    pub cursor_sessions: usize,
    /// The instances.
    pub instances: &'a [Arc<Instance>],
}

/// Joins.
#[derive(Debug, Serialize)]
#[allow(missing_docs)] // figures named for what they count
pub struct JoinFigures {
    pub sent: usize,
    pub acknowledged: usize,
    pub referred: usize,
    /// Committed but never acknowledged (the answer was lost; the retry
    /// found the address taken).
    pub committed_unacknowledged: usize,
    /// Of those, when each was sent and its first failure (seconds into
    /// the load, and the cause), the first ten.
    pub unacknowledged_examples: Vec<String>,
    pub retries: BTreeMap<String, u64>,
    pub failed: BTreeMap<String, u64>,
}

/// Leads.
#[derive(Debug, Serialize)]
#[allow(missing_docs)] // figures named for what they count
pub struct LeadFigures {
    pub sent: usize,
    pub acknowledged: usize,
    pub attempts: u64,
    pub stored: usize,
    /// Acknowledged but not stored (or stored under another id).
    pub missing: usize,
    /// Stored more than once.
    pub duplicated: usize,
    pub retries: BTreeMap<String, u64>,
    pub failed: BTreeMap<String, u64>,
}

/// Webhooks.
#[derive(Debug, Serialize)]
#[allow(missing_docs)] // figures named for what they count
pub struct WebhookFigures {
    pub outbox_entries: usize,
    /// Mail entries beside them (not sent: the soak runs no SMTP server).
    pub mails: usize,
    pub delivered: usize,
    /// Entries the receiver never got.
    pub missing: usize,
    /// Deliveries beyond the first of each id (at least once).
    pub again: u64,
    /// Deliveries of an id with another payload than before.
    pub conflicting: u64,
    pub dead: usize,
}

/// The gRPC feed.
#[derive(Debug, Serialize)]
#[allow(missing_docs)] // figures named for what they count
pub struct FeedFigures {
    pub follows: u64,
    pub acks: u64,
    pub handled: usize,
    /// Records sent again after a reconnect (what was not acknowledged yet).
    pub redelivered: u64,
    /// Acknowledged leads the follower never got.
    pub missing: usize,
    /// Leads handled at two positions.
    pub duplicated: usize,
    /// Records at a position below one already handled, new to it.
    pub out_of_order: u64,
}

/// The event streams.
#[derive(Debug, Serialize)]
#[allow(missing_docs)] // figures named for what they count
pub struct StreamFigures {
    pub streams: usize,
    pub never_opened: usize,
    pub connects: u64,
    pub resumes: u64,
    pub open_failures: BTreeMap<String, u64>,
    pub resets: usize,
    /// (stream, join) pairs: the join published while the stream was open.
    pub expected: u64,
    pub received: u64,
    /// Missed, with a `reset` that told the stream so.
    pub excused_by_reset: u64,
    /// Missed without a word.
    pub lost: u64,
    pub duplicates: u64,
    pub out_of_order: u64,
    pub examples: Vec<String>,
}

/// The cursor sessions.
#[derive(Debug, Serialize)]
#[allow(missing_docs)] // figures named for what they count
pub struct CursorFigures {
    pub sessions: usize,
    pub connects: u64,
    pub connect_failures: u64,
    pub moves: u64,
    pub frames: u64,
}

/// One instance's memory.
#[derive(Debug, Serialize)]
#[allow(missing_docs)] // figures named for what they count
pub struct MemoryFigures {
    pub instance: usize,
    pub starts: u32,
    pub peak_mib: f64,
    /// Its resident memory at minute 2 (within the minute from 2:00, at the
    /// age its process has at the end: each restarts every minute), and at
    /// the end of the load.
    pub at_minute_2_mib: Option<f64>,
    pub at_end_mib: Option<f64>,
}

/// The soak's report.
#[derive(Debug, Serialize)]
#[allow(missing_docs)] // figures named for what they count
pub struct SoakReport {
    pub seconds: f64,
    pub faults: Vec<String>,
    pub joins: JoinFigures,
    pub leads: LeadFigures,
    pub webhooks: WebhookFigures,
    pub feed: FeedFigures,
    pub streams: StreamFigures,
    pub cursors: CursorFigures,
    pub memory: Vec<MemoryFigures>,
    /// What broke a promise; none: the soak passed.
    pub problems: Vec<String>,
}

impl Accounts<'_> {
    /// Counts everything and names every broken promise.
    pub fn report(&self) -> SoakReport {
        let mut problems = Vec::new();
        let joins = self.joins.list.lock().clone();
        let join_figures = JoinFigures {
            sent: joins.len(),
            acknowledged: joins.iter().filter(|j| j.acked.is_some()).count(),
            referred: joins.iter().filter(|j| j.referred).count(),
            committed_unacknowledged: joins.iter().filter(|j| j.committed_unacked).count(),
            unacknowledged_examples: joins
                .iter()
                .enumerate()
                .filter(|(_, j)| j.committed_unacked)
                .take(10)
                .map(|(n, j)| {
                    let at = |t: tokio::time::Instant| t.duration_since(self.started).as_secs_f64();
                    let (failed, cause) = j
                        .first_failure
                        .as_ref()
                        .map_or((f64::NAN, ""), |(t, c)| (at(*t), c.as_str()));
                    format!(
                        "join {n}: sent at {:.2} s, {cause} at {failed:.2} s",
                        at(j.sent)
                    )
                })
                .collect(),
            retries: self.joins.retries.counts(),
            failed: self.joins.failures.counts(),
        };

        let leads = self.leads.list.lock().clone();
        let mut stored: HashMap<String, (usize, HashSet<String>)> = HashMap::new();
        for row in self.stored_leads {
            let name = row["name"].as_str().unwrap_or_default().to_owned();
            let entry = stored.entry(name).or_default();
            entry.0 += 1;
            entry
                .1
                .insert(row["id"].as_str().unwrap_or_default().to_owned());
        }
        let mut lead_figures = LeadFigures {
            sent: leads.len(),
            acknowledged: leads.iter().filter(|l| l.id.is_some()).count(),
            attempts: leads.iter().map(|l| u64::from(l.attempts)).sum(),
            stored: self.stored_leads.len(),
            missing: 0,
            duplicated: 0,
            retries: self.leads.retries.counts(),
            failed: self.leads.failures.counts(),
        };
        for (n, lead) in leads.iter().enumerate() {
            let found = stored.get(&lead_name(n));
            if found.is_some_and(|(count, _)| *count > 1) {
                lead_figures.duplicated += 1;
            }
            if let Some(id) = &lead.id
                && !found.is_some_and(|(_, ids)| ids.contains(id))
            {
                lead_figures.missing += 1;
            }
        }
        if lead_figures.missing + lead_figures.duplicated > 0 {
            problems.push(format!(
                "leads: {} acknowledged but not stored, {} stored twice",
                lead_figures.missing, lead_figures.duplicated
            ));
        }

        let webhooks = self.webhooks(&mut problems);
        let feed = self.feed(&leads, &mut problems);
        let streams = self.streams(&joins, &mut problems);
        let memory = self.memory(&mut problems);
        let cursors = CursorFigures {
            sessions: self.cursor_sessions,
            connects: self.cursors.connects.load(Ordering::Relaxed),
            connect_failures: self.cursors.connect_failures.load(Ordering::Relaxed),
            moves: self.cursors.moves.load(Ordering::Relaxed),
            frames: self.cursors.frames.load(Ordering::Relaxed),
        };
        if join_figures.acknowledged == 0 || lead_figures.acknowledged == 0 {
            problems.push("no join or no lead was acknowledged: the load did not run".into());
        }
        SoakReport {
            seconds: self.seconds,
            faults: self.faults.clone(),
            joins: join_figures,
            leads: lead_figures,
            webhooks,
            feed,
            streams,
            cursors,
            memory,
            problems,
        }
    }

    fn webhooks(&self, problems: &mut Vec<String>) -> WebhookFigures {
        let by_id = self.deliveries.by_id.lock();
        let missing = self
            .outbox
            .iter()
            .filter(|e| !e["id"].as_u64().is_some_and(|id| by_id.contains_key(&id)))
            .count();
        let figures = WebhookFigures {
            outbox_entries: self.outbox.len(),
            mails: self.mails,
            delivered: self.outbox.len() - missing,
            missing,
            again: by_id.values().map(|(_, n)| u64::from(n - 1)).sum(),
            conflicting: self.deliveries.conflicting.load(Ordering::Relaxed),
            dead: self
                .outbox
                .iter()
                .filter(|e| !e["dead_at"].is_null())
                .count(),
        };
        if figures.missing > 0 || figures.conflicting > 0 || self.outbox.is_empty() {
            problems.push(format!(
                "webhooks: {} of {} outbox entries never delivered, {} ids with two payloads",
                figures.missing, figures.outbox_entries, figures.conflicting
            ));
        }
        figures
    }

    fn feed(&self, leads: &[super::forms::Lead], problems: &mut Vec<String>) -> FeedFigures {
        let handled = self.feed.leads.lock();
        let figures = FeedFigures {
            follows: self.feed.follows.load(Ordering::Relaxed),
            acks: self.feed.acks.load(Ordering::Relaxed),
            handled: handled.len(),
            redelivered: self.feed.redelivered.load(Ordering::Relaxed),
            missing: leads
                .iter()
                .filter_map(|l| l.id.as_ref())
                .filter(|id| !handled.contains_key(*id))
                .count(),
            duplicated: handled.values().filter(|n| **n > 1).count(),
            out_of_order: self.feed.out_of_order.load(Ordering::Relaxed),
        };
        if figures.missing + figures.duplicated > 0 || figures.out_of_order > 0 {
            problems.push(format!(
                "feed: {} leads never followed, {} twice, {} out of commit order",
                figures.missing, figures.duplicated, figures.out_of_order
            ));
        }
        figures
    }

    fn streams(&self, joins: &[super::forms::Join], problems: &mut Vec<String>) -> StreamFigures {
        let mut figures = StreamFigures {
            streams: self.streams.len(),
            never_opened: 0,
            connects: 0,
            resumes: 0,
            open_failures: BTreeMap::new(),
            resets: 0,
            expected: 0,
            received: 0,
            excused_by_reset: 0,
            lost: 0,
            duplicates: 0,
            out_of_order: 0,
            examples: Vec::new(),
        };
        for (s, log) in self.streams.iter().enumerate() {
            let log = log.lock();
            figures.connects += u64::from(log.connects);
            figures.resumes += u64::from(log.resumes);
            for (cause, n) in &log.failures {
                *figures.open_failures.entry(cause.clone()).or_default() += u64::from(*n);
            }
            figures.resets += log.resets.len();
            figures.duplicates += u64::from(log.duplicates);
            figures.out_of_order += u64::from(log.out_of_order);
            if let Some(v) = &log.first_violation
                && figures.examples.len() < 5
            {
                figures.examples.push(format!("stream {s}: {v}"));
            }
            let (Some(opened), Some(closed)) = (log.opened, log.closed) else {
                figures.never_opened += 1;
                continue;
            };
            for (n, join) in joins.iter().enumerate() {
                let Some(acked) = join.acked else { continue };
                if join.sent < opened || acked + DELIVERY_GRACE > closed {
                    continue;
                }
                figures.expected += 1;
                if log.joins.contains(n) {
                    figures.received += 1;
                    continue;
                }
                // A reset after it was sent, and after the last join the
                // stream had before the reset was sent, told the stream
                // it missed events — this one among them.
                let excused = log.resets.iter().any(|(at, before)| {
                    join.sent <= *at && before.is_none_or(|b| acked >= joins[b].sent)
                });
                if excused {
                    figures.excused_by_reset += 1;
                } else {
                    figures.lost += 1;
                    if figures.examples.len() < 10 {
                        let late = closed.duration_since(acked).as_secs_f64();
                        figures.examples.push(format!(
                            "stream {s} never got join {n} (acknowledged {late:.1} s before it closed)"
                        ));
                    }
                }
            }
        }
        if figures.lost + figures.duplicates + figures.out_of_order > 0 || figures.never_opened > 0
        {
            problems.push(format!(
                "streams: {} events lost, {} twice, {} out of id order, {} streams never opened",
                figures.lost, figures.duplicates, figures.out_of_order, figures.never_opened
            ));
        }
        figures
    }

    fn memory(&self, problems: &mut Vec<String>) -> Vec<MemoryFigures> {
        let mib = |kib: u64| kib as f64 / 1024.0;
        let mut all = Vec::new();
        for instance in self.instances {
            let memory = instance.memory.lock().clone();
            let end = memory
                .samples
                .iter()
                .rfind(|(t, _, _)| *t <= self.seconds)
                .copied();
            // Like with like: the sample of the minute from 2:00 whose
            // process was as old as the one at the end.
            let at_2 = end.and_then(|(_, end_age, _)| {
                memory
                    .samples
                    .iter()
                    .filter(|(t, _, _)| *t >= 120.0 && *t < 180.0 && *t <= self.seconds)
                    .min_by(|a, b| (a.1 - end_age).abs().total_cmp(&(b.1 - end_age).abs()))
                    .copied()
                    .or(end)
            });
            let figures = MemoryFigures {
                instance: instance.slot,
                starts: *instance.starts.lock(),
                peak_mib: mib(memory.peak_kib),
                at_minute_2_mib: at_2.map(|s| mib(s.2)),
                at_end_mib: end.map(|s| mib(s.2)),
            };
            if figures.peak_mib > PEAK_LIMIT_MIB {
                problems.push(format!(
                    "memory: instance {} peaked at {:.0} MiB (limit {PEAK_LIMIT_MIB})",
                    instance.slot, figures.peak_mib
                ));
            }
            if let (Some(two), Some(end)) = (figures.at_minute_2_mib, figures.at_end_mib)
                && end > GROWTH_LIMIT * two
            {
                problems.push(format!(
                    "memory: instance {} grew from {two:.0} MiB at minute 2 to {end:.0} MiB",
                    instance.slot
                ));
            }
            all.push(figures);
        }
        all
    }
}

impl SoakReport {
    /// The report as a table.
    pub fn table(&self) -> String {
        let mut out = String::new();
        let j = &self.joins;
        let l = &self.leads;
        let w = &self.webhooks;
        let f = &self.feed;
        let s = &self.streams;
        let c = &self.cursors;
        let _ = writeln!(out, "soak of {:.0} s; injected:", self.seconds);
        for fault in &self.faults {
            let _ = writeln!(out, "  {fault}");
        }
        let _ = writeln!(
            out,
            "\n| what | operations | lost or wrong |\n|---|---|---|"
        );
        let row = |out: &mut String, what: &str, done: String, lost: String| {
            let _ = writeln!(out, "| {what} | {done} | {lost} |");
        };
        row(
            &mut out,
            "joins",
            format!(
                "{} sent, {} acknowledged ({} with a referral code); {} committed without an answer; retries {:?}",
                j.sent, j.acknowledged, j.referred, j.committed_unacknowledged, j.retries
            ),
            format!("failed {:?}", j.failed),
        );
        row(
            &mut out,
            "leads",
            format!(
                "{} sent in {} attempts, {} acknowledged, {} stored; retries {:?}",
                l.sent, l.attempts, l.acknowledged, l.stored, l.retries
            ),
            format!(
                "{} missing, {} stored twice; failed {:?}",
                l.missing, l.duplicated, l.failed
            ),
        );
        row(
            &mut out,
            "webhooks",
            format!(
                "{} outbox entries, {} delivered ({} deliveries again), {} dead; {} mail entries beside them (no SMTP server in the soak: they wait)",
                w.outbox_entries, w.delivered, w.again, w.dead, w.mails
            ),
            format!(
                "{} never delivered, {} ids with two payloads",
                w.missing, w.conflicting
            ),
        );
        row(
            &mut out,
            "gRPC feed",
            format!(
                "{} leads handled over {} follows, {} acknowledgements, {} records sent again",
                f.handled, f.follows, f.acks, f.redelivered
            ),
            format!(
                "{} missing, {} twice, {} out of commit order",
                f.missing, f.duplicated, f.out_of_order
            ),
        );
        row(
            &mut out,
            "event streams",
            format!(
                "{} streams, {} connections ({} resumes), {} resets; {} (stream, join) deliveries expected, {} received, {} missed with a reset; failed opens {:?}",
                s.streams,
                s.connects,
                s.resumes,
                s.resets,
                s.expected,
                s.received,
                s.excused_by_reset,
                s.open_failures
            ),
            format!(
                "{} lost, {} twice, {} out of order, {} never opened",
                s.lost, s.duplicates, s.out_of_order, s.never_opened
            ),
        );
        row(
            &mut out,
            "cursor sessions",
            format!(
                "{} sessions, {} connections ({} failed attempts), {} moves sent, {} frames received",
                c.sessions, c.connects, c.connect_failures, c.moves, c.frames
            ),
            "—".into(),
        );
        for m in &self.memory {
            let opt = |v: Option<f64>| v.map_or("—".into(), |v| format!("{v:.0} MiB"));
            row(
                &mut out,
                &format!("instance {} memory", m.instance),
                format!(
                    "{} starts; peak {:.0} MiB, at minute 2 {}, at the end {}",
                    m.starts,
                    m.peak_mib,
                    opt(m.at_minute_2_mib),
                    opt(m.at_end_mib)
                ),
                format!("limits {PEAK_LIMIT_MIB:.0} MiB, ×{GROWTH_LIMIT}"),
            );
        }
        for example in j.unacknowledged_examples.iter().chain(&s.examples) {
            let _ = writeln!(out, "  {example}");
        }
        let _ = writeln!(out);
        if self.problems.is_empty() {
            let _ = writeln!(out, "PASS: nothing acknowledged was lost");
        } else {
            for problem in &self.problems {
                let _ = writeln!(out, "FAIL: {problem}");
            }
        }
        out
    }
}
