//! Behind a real reverse proxy: Debian's nginx terminating TLS in front of the
//! server, adding `X-Forwarded-For` (`proxy_add_x_forwarded_for`), once
//! speaking HTTP/1.0 to it (nginx's default: event streams go through Salvo)
//! and once HTTP/1.1 with keep-alive (they take the lean path). Visitors come
//! from 25 loopback addresses (127.0.0.2…); the server trusts only the proxy.
//!
//! nginx is started by the test itself (`nginx -p <temp dir>`), on a port of
//! its own, with the location settings of the deployment's own proxy
//! (`deploy/nginx/proxy-location.conf`); `.ci/run` installs the package.

use std::net::IpAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use crate::support::{Db, SseClient, TestApp, spawn_app_with};

/// A running nginx, stopped on drop.
struct Nginx {
    child: Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free TCP port on loopback (bound and released).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn nginx_binary() -> Option<&'static str> {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

/// Starts nginx terminating TLS on a fresh port, proxying to `upstream`.
fn start_nginx(upstream: std::net::SocketAddr, keepalive: bool) -> Nginx {
    let binary = nginx_binary().expect("nginx is installed (apt-get install nginx)");
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    crate::support::self_signed_certificate(&cert, &key, "localhost");
    let port = free_port();
    let upstream_protocol = if keepalive {
        "proxy_http_version 1.1;\n            proxy_set_header Connection \"\";"
    } else {
        "proxy_http_version 1.0;"
    };
    let temp = dir.path().display();
    let config = format!(
        r#"
daemon off;
master_process off;
worker_processes 1;
error_log {temp}/error.log warn;
pid {temp}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {temp}/body;
    proxy_temp_path {temp}/proxy;
    fastcgi_temp_path {temp}/fastcgi;
    uwsgi_temp_path {temp}/uwsgi;
    scgi_temp_path {temp}/scgi;
    upstream edge {{
        server {upstream};
        {pool}
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location / {{
            proxy_pass http://edge;
            {upstream_protocol}
            include {shared};
        }}
    }}
}}
"#,
        pool = if keepalive { "keepalive 32;" } else { "" },
        // What deploy/nginx/nginx.conf (compose) includes too.
        shared = crate::support::repo_root()
            .join("deploy/nginx/proxy-location.conf")
            .display(),
        cert = cert.display(),
        key = key.display(),
    );
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, config).expect("config written");
    let mut child = Command::new(binary)
        .arg("-p")
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("nginx starts");
    // Ready once it accepts connections.
    for _ in 0..100 {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Nginx {
                child,
                port,
                _dir: dir,
            };
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!(
        "nginx did not listen on {port}: {}",
        std::fs::read_to_string(dir.path().join("error.log")).unwrap_or_default()
    );
}

/// An HTTPS client of the proxy sending from `source`.
fn client_from(source: IpAddr) -> reqwest::Client {
    reqwest::Client::builder()
        .local_address(source)
        .tls_danger_accept_invalid_certs(true)
        .build()
        .expect("client")
}

async fn app_behind_proxy(db: Db) -> TestApp {
    let app = spawn_app_with(db, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().expect("net")];
    })
    .await;
    app.open_campaign(
        "c",
        json!({"rate_limits": {"streams_per_ip": 1, "joins_per_minute": 1}}),
    )
    .await;
    app
}

/// 25 visitors on 25 addresses each open an event stream through the proxy
/// (one per address is the campaign's cap), join, and have their limits to
/// themselves; a forged header from a visitor changes nothing.
async fn visitors_behind_the_proxy_are_themselves(keepalive: bool) {
    if !crate::support::tool_present(nginx_binary().is_some(), "nginx", "apt-get install nginx") {
        return;
    }
    let app = app_behind_proxy(Db::Sqlite).await;
    let nginx = start_nginx(app.addr, keepalive);
    let base = format!("https://127.0.0.1:{}", nginx.port);
    let mut streams = Vec::new();
    for n in 2..27u8 {
        let client = client_from(IpAddr::from([127, 0, 0, n]));
        let stream = SseClient::send(
            client
                .get(format!("{base}/api/campaign/c/events"))
                // A forged hop, left of the one nginx adds: ignored.
                .header("x-forwarded-for", "198.51.100.66"),
        )
        .await;
        assert_eq!(stream.status, 200, "visitor {n}: {}", stream.error);
        streams.push(stream);
        let joined = crate::support::read(
            client
                .post(format!("{base}/api/user/register"))
                .json(&json!({"campaign": "c", "email": format!("v{n}@example.com"), "name": format!("V{n}")}))
                .send()
                .await
                .expect("join sent"),
        )
        .await;
        joined.assert_status(201);
    }
    for stream in &mut streams {
        assert_eq!(stream.next().await.event, "presence");
    }
    // Each visitor's own cap and limit still hold.
    let again = client_from(IpAddr::from([127, 0, 0, 2]));
    let second = SseClient::send(again.get(format!("{base}/api/campaign/c/events"))).await;
    assert_eq!(
        (second.status.as_u16(), &second.error["code"]),
        (429, &json!("rate_limited"))
    );
    let join = crate::support::read(
        again
            .post(format!("{base}/api/user/register"))
            .json(&json!({"campaign": "c", "email": "another@example.com", "name": "Again"}))
            .send()
            .await
            .expect("join sent"),
    )
    .await;
    join.assert_error(429, "rate_limited");
    assert!(join.headers.contains_key("retry-after"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_nginx_speaking_http_1_0() {
    visitors_behind_the_proxy_are_themselves(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn through_nginx_with_keepalive() {
    visitors_behind_the_proxy_are_themselves(true).await;
}

/// The deployment's proxy configuration (`deploy/nginx/nginx.conf`, used by
/// `compose.yaml`) is one nginx accepts: its TLS server and the UDP pass-through
/// for WebTransport, with the instances' names and the mounted paths
/// replaced by local ones.
#[test]
fn the_deployment_proxy_configuration_is_valid() {
    let binary = nginx_binary();
    if !crate::support::tool_present(
        binary.is_some(),
        "nginx",
        "apt-get install nginx libnginx-mod-stream",
    ) {
        return;
    }
    let binary = binary.expect("present");
    let root = crate::support::repo_root();
    let dir = tempfile::tempdir().expect("temp dir");
    let (cert, key) = (dir.path().join("edge.crt"), dir.path().join("edge.key"));
    crate::support::self_signed_certificate(&cert, &key, "edge");
    let deployed =
        std::fs::read_to_string(root.join("deploy/nginx/nginx.conf")).expect("the deployment's");
    let temp = dir.path().display();
    // Debian builds the stream module as a module of its own.
    let stream_module = Path::new("/usr/lib/nginx/modules/ngx_stream_module.so");
    let load = if stream_module.exists() {
        format!("load_module {};\n", stream_module.display())
    } else {
        String::new()
    };
    let local = format!("{load}pid {temp}/nginx.pid;\nerror_log {temp}/error.log;\n")
        + &deployed
            .replace("/etc/nginx/certs", &temp.to_string())
            .replace(
                "/etc/nginx/proxy-location.conf",
                &root
                    .join("deploy/nginx/proxy-location.conf")
                    .display()
                    .to_string(),
            )
            .replace("edge1:", "127.0.0.1:")
            .replace("edge2:", "127.0.0.2:")
            .replace("listen 443", "listen 127.0.0.1:18443");
    let conf = dir.path().join("nginx.conf");
    std::fs::write(&conf, local).expect("written");
    let checked = Command::new(binary)
        .args(["-t", "-p"])
        .arg(dir.path())
        .arg("-c")
        .arg(&conf)
        .output()
        .expect("nginx runs");
    assert!(
        checked.status.success(),
        "{}",
        String::from_utf8_lossy(&checked.stderr)
    );
}
