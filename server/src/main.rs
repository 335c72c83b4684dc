//! `ovasabi-edge`: reads the configuration, starts logging and runs the app.

use std::process::ExitCode;

use ovasabi_edge::App;
use ovasabi_edge::internals::config::{CampaignsAction, Cli, Command, ReadError, SecretSource};
use ovasabi_edge::internals::{campaign, store};
use tokio_util::sync::CancellationToken;

#[tokio::main]
async fn main() -> ExitCode {
    let (command, config) = match Cli::read() {
        Ok(cli) => (cli.command.unwrap_or(Command::Serve), cli.config),
        Err(ReadError::Invalid(e)) => {
            eprintln!("ovasabi-edge: invalid configuration: {e}");
            return ExitCode::from(2);
        }
        Err(ReadError::Clap(e)) => e.exit(),
    };
    if let (Command::Serve, Err(reason)) = (&command, config.check_deployable()) {
        eprintln!("ovasabi-edge: refusing to start: {reason}");
        return ExitCode::from(2);
    }
    ovasabi_edge::internals::telemetry::init(config.log_format);
    if let Command::Serve = command {
        let open_files = ovasabi_edge::raise_open_file_limit();
        tracing::info!(open_files, "open-file limit");
        tracing::info!(?config, "configuration");
    }
    let result = match command {
        Command::Serve => serve(config).await,
        Command::Migrate => migrate(&config).await,
        Command::Health => health(&config).await,
        Command::Openapi => {
            println!("{}", ovasabi_edge::internals::http::openapi::document());
            Ok(())
        }
        Command::Campaigns { action } => campaigns(config, action).await,
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = format!("{e:#}"), "stopped");
            eprintln!("ovasabi-edge: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: ovasabi_edge::Config) -> anyhow::Result<()> {
    // Generated secrets are never printed: the admin token goes to a file
    // only its owner can read.
    if config.admin_token.source == SecretSource::Generated {
        let path = std::path::Path::new("data/admin-token");
        match write_private(path, &config.admin_token.value) {
            Ok(()) => tracing::warn!(
                file = %path.display(),
                "OVASABI_ADMIN_TOKEN is not set: generated an admin token for this run only"
            ),
            Err(e) => tracing::warn!(
                error = %e,
                "OVASABI_ADMIN_TOKEN is not set: generated an admin token for this run only \
                 (it could not be written to data/admin-token; set one to use the admin API)"
            ),
        }
    }
    if config.session_secret.source == SecretSource::Generated {
        tracing::warn!(
            "OVASABI_SESSION_SECRET is not set: session tokens will not survive a restart"
        );
    }
    if config.webhook_secret.source == SecretSource::Generated && config.webhook_url.is_some() {
        tracing::warn!(
            "OVASABI_WEBHOOK_SECRET is not set: webhook signatures use a secret generated \
             for this run only, which receivers cannot know"
        );
    }
    let app = App::build(config).await?;
    println!("ovasabi-edge listening on http://{}", app.http_addr());
    tracing::info!(addr = %app.webtransport_addr(), "WebTransport endpoint (UDP)");
    let shutdown = CancellationToken::new();
    tokio::spawn(watch_signals(shutdown.clone()));
    app.run(shutdown).await
}

async fn campaigns(config: ovasabi_edge::Config, action: CampaignsAction) -> anyhow::Result<()> {
    use ovasabi_edge::internals::campaign::scaffold;
    let dir = config
        .campaigns_dir
        .clone()
        .unwrap_or_else(|| "campaigns".into());
    match action {
        CampaignsAction::Apply { force } => apply_campaigns(config, force).await,
        CampaignsAction::New { slug, name, docs } => {
            let made = scaffold::new_campaign(&dir, &docs, &slug, name.as_deref())?;
            println!("wrote {}", made.file.display());
            println!("wrote {}", made.doc.display());
            println!(
                "next: edit the file, `ovasabi-edge campaigns docs`, `ovasabi-edge campaigns check`, \
                 then `ovasabi-edge campaigns apply` (or a restart) puts it live"
            );
            Ok(())
        }
        CampaignsAction::Docs { docs } => {
            for path in scaffold::write_docs(&dir, &docs)? {
                println!("wrote {}", path.display());
            }
            Ok(())
        }
        CampaignsAction::Check { docs } => {
            let problems = scaffold::check(&dir, &docs);
            for problem in &problems {
                eprintln!("{problem}");
            }
            anyhow::ensure!(
                problems.is_empty(),
                "{} problem(s) in the campaign files",
                problems.len()
            );
            println!("campaign files and documents are valid and up to date");
            Ok(())
        }
    }
}

async fn apply_campaigns(config: ovasabi_edge::Config, force: bool) -> anyhow::Result<()> {
    let tasks = ovasabi_edge::internals::tasks::Tasks::new();
    let store = store::connect(
        config.database_url.as_str(),
        config.db_max_connections,
        &tasks,
        std::sync::Arc::default(),
        store::Migrations::applied_if(config.migrate),
    )
    .await?;
    let policy = config.webhook_policy();
    let dir = config.campaigns_dir.unwrap_or_else(|| "campaigns".into());
    let applied = campaign::files::apply_dir(store.as_ref(), &dir, policy, force).await;
    tasks.stop(config.shutdown_timeout).await;
    for (slug, outcome) in applied? {
        println!("{slug}: {outcome:?}");
    }
    Ok(())
}

async fn health(config: &ovasabi_edge::Config) -> anyhow::Result<()> {
    let mut addr = config.http_addr;
    if addr.ip().is_unspecified() {
        addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
    }
    let answer = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(3))
        .build()?
        .get(format!("http://{addr}/healthz"))
        .send()
        .await?;
    anyhow::ensure!(
        answer.status().is_success(),
        "/healthz answered {}",
        answer.status()
    );
    println!("up");
    Ok(())
}

async fn migrate(config: &ovasabi_edge::Config) -> anyhow::Result<()> {
    let applied = store::migrate(config.database_url.as_str()).await?;
    if applied.is_empty() {
        println!("the database is up to date");
    }
    for migration in applied {
        println!("applied {migration}");
    }
    Ok(())
}

/// Writes `secret` to `path`, readable by this user only.
fn write_private(path: &std::path::Path, secret: &str) -> std::io::Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    std::io::Write::write_all(&mut file, format!("{secret}\n").as_bytes())
}

/// Cancels `shutdown` on Ctrl-C or SIGTERM.
async fn watch_signals(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(e) => {
                tracing::warn!(error = %e, "cannot watch SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        () = terminate => {}
    }
    shutdown.cancel();
}
