//! `ovasabi-load`: load generator and benchmark client of Ovasabi Edge.
//!
//! ```text
//! ovasabi-load cursors --sessions 1000 --hz 30 --duration-secs 20 --admin-token T --server-pid P
//! ovasabi-load sse     --subscribers 10000 --broadcasts 100 --rate 100 --admin-token T --server-pid P
//! ovasabi-load forms   --concurrency 64 --requests 20000 --admin-token T
//! ovasabi-load resume  --opens 100 --rounds 10 --others 1000 --admin-token T --server-pid P
//! ovasabi-load lossy   --loss 0.01 --delay-ms 30 --jitter-ms 10 --admin-token T
//! ovasabi-load soak    --server target/debug/ovasabi-edge --database-url postgres://…/db --minutes 2
//! ```
//! Each run makes its own campaign (with the admin token) unless `--campaign`
//! names one, prints a summary, and with `--json` one JSON line. The soak
//! starts (and kills) its own servers and prints a table; it exits 1 when
//! anything acknowledged was lost.

use std::time::{Duration, Instant};

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use loadgen::stats::{ServerUse, read_process};
use loadgen::target::{bench_campaign, check_loopback, raise_fd_limit, user_tokens};
use loadgen::{cursors, forms, impair, lossy, resume, soak, sse};

#[derive(Parser)]
#[command(
    name = "ovasabi-load",
    about = "Load generator and benchmark client of Ovasabi Edge"
)]
struct Cli {
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Args, Clone)]
struct Common {
    /// The server (more than one: sessions are spread over them).
    #[arg(long, default_value = "http://127.0.0.1:8080")]
    base: Vec<String>,
    /// Admin token, to create the benchmark campaign.
    #[arg(long, env = "OVASABI_ADMIN_TOKEN")]
    admin_token: Option<String>,
    /// An existing campaign to use instead.
    #[arg(long)]
    campaign: Option<String>,
    /// The server's process id: its CPU time and memory are reported.
    #[arg(long)]
    server_pid: Option<u32>,
    /// Print one JSON line too.
    #[arg(long)]
    json: bool,
    /// Allow servers that are not on this machine.
    #[arg(long)]
    allow_remote: bool,
    /// Room tick rate of the benchmark campaign.
    #[arg(long, default_value_t = 30)]
    tick_hz: u32,
    /// Interest cap of the benchmark campaign.
    #[arg(long, default_value_t = 64)]
    interest_cap: u32,
}

/// The chaos soak's settings.
#[derive(Args, Clone)]
struct SoakArgs {
    /// The server binary to run (three instances of it).
    #[arg(long, default_value = "target/debug/ovasabi-edge")]
    server: std::path::PathBuf,
    /// An empty PostgreSQL database for the instances (reached through the
    /// soak's own cuttable proxy).
    #[arg(long)]
    database_url: String,
    /// Minutes of load and faults.
    #[arg(long, default_value_t = 2.0)]
    minutes: f64,
    #[arg(long, default_value_t = 3)]
    instances: usize,
    #[arg(long, default_value_t = 20.0)]
    joins_per_second: f64,
    #[arg(long, default_value_t = 20.0)]
    leads_per_second: f64,
    #[arg(long, default_value_t = 300)]
    streams: usize,
    #[arg(long, default_value_t = 50)]
    cursors: usize,
    /// Where the instances' logs go.
    #[arg(long, default_value = ".")]
    logs: std::path::PathBuf,
    /// Print the report as one JSON line too.
    #[arg(long)]
    json: bool,
}

#[derive(Subcommand)]
enum Scenario {
    /// The chaos soak: three instances under mixed load while instances,
    /// Redis and PostgreSQL fail; fails unless nothing acknowledged was lost.
    Soak(SoakArgs),
    /// WebTransport cursor sessions in one room.
    Cursors {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 100)]
        sessions: usize,
        #[arg(long, default_value_t = 30)]
        hz: u32,
        #[arg(long, default_value_t = 10)]
        duration_secs: u64,
        /// Sessions that measure (all read nothing else).
        #[arg(long, default_value_t = 50)]
        observers: usize,
        /// Sessions that move (the first ones); the others stay present and
        /// idle. Default: all.
        #[arg(long)]
        moving: Option<usize>,
    },
    /// Idle SSE subscribers, then broadcasts.
    Sse {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 1000)]
        subscribers: usize,
        #[arg(long, default_value_t = 20)]
        broadcasts: usize,
        /// Broadcasts per second.
        #[arg(long, default_value_t = 10.0)]
        rate: f64,
        /// Publish on this server instead (cross-instance).
        #[arg(long)]
        publish_base: Option<String>,
    },
    /// Cursors on a lossy link: WebTransport datagrams through a UDP proxy,
    /// then the SSE fallback through a TCP proxy, both delaying and losing
    /// traffic alike (see the `impair` module).
    Lossy {
        #[command(flatten)]
        common: Common,
        /// Probability that a datagram (or, for TCP, a chunk) is lost.
        #[arg(long, default_value_t = 0.0)]
        loss: f64,
        /// One-way delay of the link.
        #[arg(long, default_value_t = 30)]
        delay_ms: u64,
        /// The delay varies uniformly by up to this much either way.
        #[arg(long, default_value_t = 10)]
        jitter_ms: u64,
        /// Seed of the losses and delays.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 20)]
        sessions: usize,
        #[arg(long, default_value_t = 30)]
        hz: u32,
        #[arg(long, default_value_t = 15)]
        duration_secs: u64,
        #[arg(long, default_value_t = 5)]
        observers: usize,
    },
    /// What a resume costs beside a plain open (needs --server-pid).
    Resume {
        #[command(flatten)]
        common: Common,
        /// Streams opened (then resumed) in each round.
        #[arg(long, default_value_t = 100)]
        opens: usize,
        /// Rounds of each phase (the CPU is their mean).
        #[arg(long, default_value_t = 10)]
        rounds: usize,
        /// Events of another campaign in the history first.
        #[arg(long, default_value_t = 1000)]
        others: usize,
    },
    /// Leads (`POST /api/quote`) at a concurrency.
    Forms {
        #[command(flatten)]
        common: Common,
        #[arg(long, default_value_t = 64)]
        concurrency: usize,
        #[arg(long, default_value_t = 5000)]
        requests: usize,
        /// Spread the requests over this many loopback source addresses
        /// (127.0.0.1…), to stay under a campaign's per-address rate limit.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=200))]
        addresses: u8,
        /// Each worker opens a visitor session and waits this many seconds
        /// (a campaign's minimum time) before the run; leads carry its token.
        #[arg(long)]
        session_age: Option<f64>,
        /// Send this honeypot field, blank, with every lead.
        #[arg(long)]
        honeypot: Option<String>,
        /// Send joins instead of leads, each with the referral code of one
        /// of this many referrers (joined before the run).
        #[arg(long, default_value_t = 0)]
        referrers: usize,
    },
}

async fn campaign(common: &Common, http: &reqwest::Client) -> anyhow::Result<String> {
    match (&common.campaign, &common.admin_token) {
        (Some(slug), _) => Ok(slug.clone()),
        (None, Some(token)) => {
            bench_campaign(
                http,
                &common.base[0],
                token,
                common.tick_hz,
                common.interest_cap,
            )
            .await
        }
        (None, None) => {
            anyhow::bail!("give --admin-token (to make a benchmark campaign) or --campaign")
        }
    }
}

fn print<T: serde::Serialize>(
    json: bool,
    name: &str,
    report: &T,
    server: Option<ServerUse>,
) -> anyhow::Result<()> {
    let mut value = serde_json::to_value(report)?;
    value["scenario"] = name.into();
    if let Some(server) = server {
        value["server"] = serde_json::to_value(server)?;
    }
    println!("{}", serde_json::to_string_pretty(&value)?);
    if json {
        println!("{value}");
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let limit = raise_fd_limit();
    let http = reqwest::Client::new();
    let common = match &cli.scenario {
        Scenario::Soak(args) => return run_soak(args.clone()).await,
        Scenario::Cursors { common, .. }
        | Scenario::Sse { common, .. }
        | Scenario::Lossy { common, .. }
        | Scenario::Resume { common, .. }
        | Scenario::Forms { common, .. } => common.clone(),
    };
    for base in &common.base {
        check_loopback(base, common.allow_remote)?;
    }
    eprintln!("open files limit: {limit}");
    let slug = campaign(&common, &http)
        .await
        .context("benchmark campaign")?;
    let before = common.server_pid.map(read_process).transpose()?;
    let started = Instant::now();
    let measured_from: Instant;
    match cli.scenario {
        Scenario::Soak(_) => unreachable!("the soak ran above"),
        Scenario::Cursors {
            sessions,
            hz,
            duration_secs,
            observers,
            moving,
            ..
        } => {
            let tokens = user_tokens(&http, &common.base[0], &slug, sessions).await?;
            measured_from = Instant::now();
            let before = common.server_pid.map(read_process).transpose()?;
            let report = cursors::run(cursors::CursorLoad {
                bases: common.base.clone(),
                sessions: cursors::Sessions {
                    campaign: slug,
                    tokens,
                    hz,
                    duration: Duration::from_secs(duration_secs),
                    observers,
                    moving: moving.unwrap_or(sessions),
                },
                udp_via: None,
            })
            .await?;
            let server = server_use(common.server_pid, before, measured_from)?;
            if !report.pace.valid {
                eprintln!(
                    "NOT A SERVER FIGURE: the load generator used {:.2} core and sent {:.1} % of moves on time \
                     (a run counts under {} core and from {} % on time)",
                    report.pace.cores,
                    report.pace.on_time_ratio * 100.0,
                    cursors::MAX_LOADGEN_CORES,
                    cursors::MIN_ON_TIME * 100.0
                );
            }
            print(common.json, "cursors", &report, server)?;
        }
        Scenario::Sse {
            subscribers,
            broadcasts,
            rate,
            publish_base,
            ..
        } => {
            measured_from = started;
            let report = sse::run(sse::SseLoad {
                base: common.base[0].clone(),
                publish_base,
                campaign: slug,
                subscribers,
                broadcasts,
                rate,
                server_pid: common.server_pid,
            })
            .await?;
            let server = server_use(common.server_pid, before, measured_from)?;
            print(common.json, "sse", &report, server)?;
        }
        Scenario::Lossy {
            loss,
            delay_ms,
            jitter_ms,
            seed,
            sessions,
            hz,
            duration_secs,
            observers,
            ..
        } => {
            let link = impair::Impairment {
                loss,
                delay: Duration::from_millis(delay_ms),
                jitter: Duration::from_millis(jitter_ms),
                seed,
            };
            let base = &common.base[0];
            let report = lossy::run(lossy::LossyLoad {
                http: &http,
                base,
                campaign: &slug,
                link,
                sessions,
                hz,
                duration: Duration::from_secs(duration_secs),
                observers,
            })
            .await?;
            measured_from = started;
            let server = server_use(common.server_pid, before, measured_from)?;
            print(common.json, "lossy", &report, server)?;
        }
        Scenario::Resume {
            opens,
            rounds,
            others,
            ..
        } => {
            let pid = common
                .server_pid
                .context("the resume scenario measures the server: give --server-pid")?;
            let other = campaign(
                &Common {
                    campaign: None,
                    ..common.clone()
                },
                &http,
            )
            .await?;
            measured_from = started;
            let report = resume::run(resume::ResumeLoad {
                base: common.base[0].clone(),
                campaign: slug,
                other,
                opens,
                rounds,
                others,
                server_pid: pid,
            })
            .await?;
            let server = server_use(common.server_pid, before, measured_from)?;
            print(common.json, "resume", &report, server)?;
        }
        Scenario::Forms {
            concurrency,
            requests,
            addresses,
            session_age,
            honeypot,
            referrers,
            ..
        } => {
            let host = url::Url::parse(&common.base[0])?
                .host_str()
                .unwrap_or_default()
                .to_owned();
            if addresses > 1 && !host.starts_with("127.") {
                anyhow::bail!("--addresses needs a server on 127.0.0.1 (it sends from 127.0.0.N)");
            }
            let tokens = match session_age {
                Some(age) => {
                    let age = Duration::from_secs_f64(age);
                    forms::sessions(&common.base[0], &slug, concurrency, addresses, age).await?
                }
                None => Vec::new(),
            };
            let referral_codes =
                forms::referrers(&common.base[0], &slug, referrers, addresses).await?;
            measured_from = Instant::now();
            let before = common.server_pid.map(read_process).transpose()?;
            let report = forms::run(forms::FormLoad {
                base: common.base[0].clone(),
                campaign: slug,
                concurrency,
                requests,
                addresses,
                tokens,
                honeypot,
                referral_codes,
            })
            .await?;
            let server = server_use(common.server_pid, before, measured_from)?;
            print(common.json, "forms", &report, server)?;
        }
    }
    Ok(())
}

async fn run_soak(args: SoakArgs) -> anyhow::Result<()> {
    if !args.minutes.is_finite() || args.minutes <= 0.0 || args.instances == 0 {
        anyhow::bail!("--minutes must be above 0 and --instances at least 1");
    }
    let report = soak::run(soak::SoakPlan {
        server: args.server,
        database_url: args.database_url,
        duration: Duration::from_secs_f64(args.minutes * 60.0),
        instances: args.instances,
        joins_per_second: args.joins_per_second,
        leads_per_second: args.leads_per_second,
        streams: args.streams,
        cursors: args.cursors,
        logs: args.logs,
    })
    .await?;
    print!("{}", report.table());
    if args.json {
        println!("{}", serde_json::to_string(&report)?);
    }
    if !report.problems.is_empty() {
        std::process::exit(1);
    }
    Ok(())
}

fn server_use(
    pid: Option<u32>,
    before: Option<loadgen::stats::ProcessReading>,
    from: Instant,
) -> anyhow::Result<Option<ServerUse>> {
    match (pid, before) {
        (Some(pid), Some(before)) => Ok(Some(ServerUse::between(
            before,
            read_process(pid)?,
            from.elapsed(),
        ))),
        _ => Ok(None),
    }
}
