//! Latency samples and server resource readings.

use std::time::Duration;

use serde::Serialize;

/// Latency samples, in microseconds.
#[derive(Debug, Default, Clone)]
pub struct Latencies {
    samples: Vec<u64>,
}

/// Percentiles of a set of samples, in milliseconds.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct Summary {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 90th percentile.
    pub p90_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Latencies {
    /// Adds one sample.
    pub fn record(&mut self, latency: Duration) {
        self.samples.push(latency.as_micros() as u64);
    }

    /// Adds the samples of `other`.
    pub fn merge(&mut self, other: Latencies) {
        self.samples.extend(other.samples);
    }

    /// Number of samples.
    pub fn len(&self) -> usize {
        self.samples.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.samples.is_empty()
    }

    /// Percentiles (nearest rank).
    pub fn summary(&mut self) -> Summary {
        self.samples.sort_unstable();
        let at = |q: f64| -> f64 {
            if self.samples.is_empty() {
                return 0.0;
            }
            let rank =
                ((q * self.samples.len() as f64).ceil() as usize).clamp(1, self.samples.len());
            self.samples[rank - 1] as f64 / 1000.0
        };
        Summary {
            count: self.samples.len(),
            p50_ms: at(0.50),
            p90_ms: at(0.90),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// CPU time and resident memory of a process, read from `/proc/<pid>`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct ProcessReading {
    /// User + system CPU time, in seconds.
    pub cpu_seconds: f64,
    /// Resident set size, in KiB.
    pub rss_kib: u64,
}

/// Reads `/proc/<pid>/stat` and `/proc/<pid>/status`.
pub fn read_process(pid: u32) -> anyhow::Result<ProcessReading> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // The command name may hold spaces: fields count from after its ')'.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    // utime and stime are fields 14 and 15 of stat: 12 and 13 after the name.
    let cpu_seconds = (ticks(11) + ticks(12)) as f64 / 100.0;
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let rss_kib = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    Ok(ProcessReading {
        cpu_seconds,
        rss_kib,
    })
}

/// What the server used between two readings over `wall`.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct ServerUse {
    /// CPU cores used on average.
    pub cores: f64,
    /// Resident memory at the end, KiB.
    pub rss_kib: u64,
    /// Growth of resident memory, KiB.
    pub rss_growth_kib: i64,
}

impl ServerUse {
    /// From readings before and after.
    pub fn between(before: ProcessReading, after: ProcessReading, wall: Duration) -> Self {
        Self {
            cores: (after.cpu_seconds - before.cpu_seconds) / wall.as_secs_f64().max(1e-9),
            rss_kib: after.rss_kib,
            rss_growth_kib: after.rss_kib as i64 - before.rss_kib as i64,
        }
    }
}

/// A Prometheus histogram as scraped: cumulative count per upper bound (seconds).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerHistogram {
    /// `(le, cumulative count)`, in the order the server lists them (`+Inf` last).
    pub buckets: Vec<(f64, u64)>,
}

/// Quantiles read off a server histogram: the bucket bound each falls under.
#[derive(Debug, Clone, Copy, Serialize, PartialEq)]
pub struct BucketSummary {
    /// Observations.
    pub count: u64,
    /// Median is at most this, ms.
    pub p50_le_ms: f64,
    /// 99th percentile is at most this, ms.
    pub p99_le_ms: f64,
}

impl ServerHistogram {
    /// Reads histogram `name` from Prometheus text.
    pub fn parse(text: &str, name: &str) -> Self {
        let prefix = format!("{name}_bucket{{le=\"");
        let buckets = text
            .lines()
            .filter_map(|line| {
                let rest = line.strip_prefix(&prefix)?;
                let (le, count) = rest.split_once("\"} ")?;
                let le = if le == "+Inf" {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, count.trim().parse().ok()?))
            })
            .collect();
        Self { buckets }
    }

    /// What was observed between `earlier` and `self`.
    pub fn since(&self, earlier: &Self) -> Self {
        let buckets = self
            .buckets
            .iter()
            .map(|(le, count)| {
                let before = earlier
                    .buckets
                    .iter()
                    .find(|(l, _)| l == le)
                    .map_or(0, |(_, c)| *c);
                (*le, count.saturating_sub(before))
            })
            .collect();
        Self { buckets }
    }

    /// The bucket bounds the median and 99th percentile fall under.
    pub fn summary(&self) -> BucketSummary {
        let count = self.buckets.last().map_or(0, |(_, c)| *c);
        let bound = |q: f64| -> f64 {
            let rank = (q * count as f64).ceil() as u64;
            self.buckets
                .iter()
                .find(|(_, c)| *c >= rank.max(1))
                .map_or(0.0, |(le, _)| le * 1000.0)
        };
        BucketSummary {
            count,
            p50_le_ms: bound(0.5),
            p99_le_ms: bound(0.99),
        }
    }
}

/// Fetches histogram `name` from the server's `/metrics` (`None` if unreachable).
pub async fn scrape_histogram(
    http: &reqwest::Client,
    base: &str,
    name: &str,
) -> Option<ServerHistogram> {
    let text = http
        .get(format!("{base}/metrics"))
        .send()
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    Some(ServerHistogram::parse(&text, name))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_by_nearest_rank() {
        let mut l = Latencies::default();
        for ms in 1..=100 {
            l.record(Duration::from_millis(ms));
        }
        let s = l.summary();
        assert_eq!(
            (s.count, s.p50_ms, s.p90_ms, s.p99_ms, s.max_ms),
            (100, 50.0, 90.0, 99.0, 100.0)
        );
        assert_eq!(Latencies::default().summary().count, 0);
    }

    #[test]
    fn reads_this_process() {
        let reading = read_process(std::process::id()).expect("own /proc");
        assert!(reading.rss_kib > 0);
    }

    #[test]
    fn server_histograms_parse_subtract_and_bound_quantiles() {
        let before = ServerHistogram::parse(
            "x_bucket{le=\"0.01\"} 5\nx_bucket{le=\"0.02\"} 5\nx_bucket{le=\"+Inf\"} 5\nx_sum 0.01\n",
            "x",
        );
        let after = ServerHistogram::parse(
            "# TYPE x histogram\nx_bucket{le=\"0.01\"} 95\nx_bucket{le=\"0.02\"} 104\nx_bucket{le=\"+Inf\"} 105\n",
            "x",
        );
        let run = after.since(&before);
        assert_eq!(
            run.buckets,
            vec![(0.01, 90), (0.02, 99), (f64::INFINITY, 100)]
        );
        let summary = run.summary();
        assert_eq!(summary.count, 100);
        assert_eq!(summary.p50_le_ms, 10.0);
        assert_eq!(summary.p99_le_ms, 20.0);
        assert_eq!(ServerHistogram::default().summary().count, 0);
    }
}
