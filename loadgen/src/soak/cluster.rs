//! What the soak runs and breaks: server instances on fixed ports (killed
//! with SIGKILL and started again in place), a `redis-server` of its own
//! (killed and started empty), and a TCP proxy in front of the shared
//! PostgreSQL that can be cut — the shared services are never touched.

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use parking_lot::Mutex;
use tokio::net::{TcpListener, TcpStream};
use tokio::process::{Child, Command};
use tokio::sync::watch;
use tokio::time::Instant;

/// A free port on loopback (TCP, or UDP when `udp`), by binding port 0.
pub fn free_port(udp: bool) -> anyhow::Result<u16> {
    Ok(if udp {
        std::net::UdpSocket::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    } else {
        std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port()
    })
}

/// How every instance is started.
#[derive(Debug, Clone)]
pub struct Launch {
    /// The server binary.
    pub server: PathBuf,
    /// Its database (through the cuttable proxy).
    pub database_url: String,
    /// Its Redis (the soak's own).
    pub redis_url: String,
    /// The admin token.
    pub admin_token: String,
    /// Where every outbox entry is posted.
    pub webhook_url: String,
    /// Where the instances' output goes (`instance-<n>.log`).
    pub logs: PathBuf,
}

/// One instance's ports, the same across its restarts.
#[derive(Debug, Clone, Copy)]
pub struct Ports {
    /// HTTP (REST, SSE).
    pub http: u16,
    /// WebTransport (UDP).
    pub wt: u16,
    /// gRPC.
    pub grpc: u16,
}

/// What one instance's processes used: resident memory, sampled.
#[derive(Debug, Clone, Default)]
pub struct Memory {
    /// The highest resident set of any of its processes (VmHWM), KiB.
    pub peak_kib: u64,
    /// (seconds since the load began, seconds since its process started,
    /// resident KiB) of each sample.
    pub samples: Vec<(f64, f64, u64)>,
}

/// One instance: its fixed ports and its current process.
pub struct Instance {
    /// Its number (0, 1, 2).
    pub slot: usize,
    /// Its ports.
    pub ports: Ports,
    process: tokio::sync::Mutex<Option<Child>>,
    pid: Mutex<Option<(u32, Instant)>>,
    /// Its memory over the run.
    pub memory: Mutex<Memory>,
    /// Times it was started (the first start included).
    pub starts: Mutex<u32>,
}

impl Instance {
    /// A new instance on free ports (not started).
    pub fn new(slot: usize) -> anyhow::Result<Self> {
        Ok(Self {
            slot,
            ports: Ports {
                http: free_port(false)?,
                wt: free_port(true)?,
                grpc: free_port(false)?,
            },
            process: tokio::sync::Mutex::new(None),
            pid: Mutex::new(None),
            memory: Mutex::new(Memory::default()),
            starts: Mutex::new(0),
        })
    }

    /// Its HTTP base URL.
    pub fn base(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.http)
    }

    /// Its gRPC URL.
    pub fn grpc(&self) -> String {
        format!("http://127.0.0.1:{}", self.ports.grpc)
    }

    /// Starts its process and waits until it answers `/healthz`; a process
    /// that exits first (the database cut while it migrates) is started
    /// again, until `give_up`.
    pub async fn start(&self, launch: &Launch, give_up: Instant) -> anyhow::Result<()> {
        loop {
            let mut child = self.spawn(launch)?;
            *self.starts.lock() += 1;
            match healthy(&self.base(), &mut child, give_up).await {
                Ok(()) => {
                    *self.pid.lock() = child.id().map(|pid| (pid, Instant::now()));
                    *self.process.lock().await = Some(child);
                    return Ok(());
                }
                Err(e) if Instant::now() < give_up => {
                    progress(&format!(
                        "instance {} did not start ({e:#}); again",
                        self.slot
                    ));
                    let _ = child.start_kill();
                    let _ = child.wait().await;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    fn spawn(&self, launch: &Launch) -> anyhow::Result<Child> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(launch.logs.join(format!("instance-{}.log", self.slot)))?;
        let ports = self.ports;
        Command::new(&launch.server)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", &launch.database_url)
            .env("REDIS_URL", &launch.redis_url)
            .env("OVASABI_REDIS_PREFIX", "soak")
            .env("OVASABI_HTTP_ADDR", format!("127.0.0.1:{}", ports.http))
            .env("OVASABI_WT_ADDR", format!("127.0.0.1:{}", ports.wt))
            .env("OVASABI_GRPC_ADDR", format!("127.0.0.1:{}", ports.grpc))
            .env("OVASABI_ADMIN_TOKEN", &launch.admin_token)
            .env(
                "OVASABI_SESSION_SECRET",
                "soak-session-secret-of-32-characters",
            )
            .env("OVASABI_WEBHOOK_SECRET", "soak-webhook-secret-of-32-chars")
            .env("OVASABI_WEBHOOK_URL", &launch.webhook_url)
            .env("OVASABI_WEBHOOK_ALLOW_HTTP", "true")
            .env("OVASABI_WEBHOOK_ALLOW_PRIVATE", "true")
            // A delivery cut short by a kill is handed out again after
            // the timeout and 30 s.
            .env("OVASABI_WEBHOOK_TIMEOUT_MS", "2000")
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {}", launch.server.display()))
    }

    /// Kills its process with SIGKILL (recording its peak memory first).
    pub async fn kill(&self) {
        self.sample_peak();
        *self.pid.lock() = None;
        if let Some(mut child) = self.process.lock().await.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Its current process id.
    pub fn pid(&self) -> Option<u32> {
        self.pid.lock().map(|(pid, _)| pid)
    }

    fn sample_peak(&self) {
        if let Some(pid) = self.pid()
            && let Some(hwm) = status_kib(pid, "VmHWM:")
        {
            let mut memory = self.memory.lock();
            memory.peak_kib = memory.peak_kib.max(hwm);
        }
    }

    /// Records its resident memory now, `at` seconds into the load.
    pub fn sample(&self, at: f64) {
        self.sample_peak();
        let process = *self.pid.lock();
        if let Some((pid, started)) = process
            && let Some(rss) = status_kib(pid, "VmRSS:")
        {
            let age = started.elapsed().as_secs_f64();
            self.memory.lock().samples.push((at, age, rss));
        }
    }
}

/// A field of `/proc/<pid>/status`, in KiB.
fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Waits until `base` answers `/healthz`, failing when `child` exits first.
async fn healthy(base: &str, child: &mut Child, give_up: Instant) -> anyhow::Result<()> {
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(2))
        .build()?;
    loop {
        if let Some(status) = child.try_wait()? {
            bail!("it exited ({status})");
        }
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            return Ok(());
        }
        if Instant::now() > give_up {
            bail!("{base} did not answer /healthz in time");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A progress line on stderr (the report goes to stdout).
pub fn progress(line: &str) {
    eprintln!("soak: {line}");
}

/// The soak's own `redis-server`, without persistence: killed, it comes
/// back empty.
pub struct OwnRedis {
    port: u16,
    process: Option<Child>,
}

impl OwnRedis {
    /// Starts it on a free port.
    pub async fn start() -> anyhow::Result<Self> {
        let mut redis = Self {
            port: free_port(false)?,
            process: None,
        };
        redis.restart().await?;
        Ok(redis)
    }

    /// Its URL.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// Kills it with SIGKILL: what it held is gone.
    pub async fn kill(&mut self) {
        if let Some(mut child) = self.process.take() {
            let _ = child.start_kill();
            let _ = child.wait().await;
        }
    }

    /// Starts it (again, empty) and waits until it takes connections.
    pub async fn restart(&mut self) -> anyhow::Result<()> {
        self.kill().await;
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .context("starting redis-server")?;
        self.process = Some(child);
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", self.port)).await.is_ok() {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        bail!("redis-server did not start on port {}", self.port)
    }
}

/// A TCP proxy in front of `upstream` that can be cut: while cut, every
/// connection through it is dropped and new ones are closed at once.
pub struct CuttableProxy {
    /// Its port on loopback.
    pub port: u16,
    cut: watch::Sender<bool>,
}

impl CuttableProxy {
    /// Starts it.
    pub async fn start(upstream: String) -> anyhow::Result<Arc<Self>> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let (cut, _) = watch::channel(false);
        let proxy = Arc::new(Self {
            port: listener.local_addr()?.port(),
            cut,
        });
        let cut = proxy.cut.subscribe();
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if *cut.borrow() {
                    continue; // dropped: closed at once
                }
                let upstream = upstream.clone();
                let mut cut = cut.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Ok(proxy)
    }

    /// Cuts it (`true`) or lets traffic through again.
    pub fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}
