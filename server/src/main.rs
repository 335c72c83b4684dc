//! `ovasabi-edge`: reads the configuration, starts logging and runs the app.

use std::process::ExitCode;

use server::config::{CampaignsAction, Cli, Command, ReadError, SecretSource};
use server::{App, campaign, store};
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
    server::telemetry::init();
    tracing::info!(?config, "configuration");
    let result = match command {
        Command::Serve => serve(config).await,
        Command::Campaigns {
            action: CampaignsAction::Apply,
        } => apply_campaigns(config).await,
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

async fn serve(config: server::Config) -> anyhow::Result<()> {
    if config.admin_token.source == SecretSource::Generated {
        tracing::warn!(
            admin_token = %config.admin_token.value,
            "OVASABI_ADMIN_TOKEN is not set: generated an admin token for this run only"
        );
    }
    if config.session_secret.source == SecretSource::Generated {
        tracing::warn!(
            "OVASABI_SESSION_SECRET is not set: session tokens will not survive a restart \
             nor work across instances"
        );
    }
    if config.webhook_secret.source == SecretSource::Generated && config.webhook_url.is_some() {
        tracing::warn!(
            webhook_secret = %config.webhook_secret.value,
            "OVASABI_WEBHOOK_SECRET is not set: generated the webhook signing secret for this run only"
        );
    }
    let app = App::build(config).await?;
    println!("ovasabi-edge listening on http://{}", app.http_addr());
    tracing::info!(addr = %app.webtransport_addr(), "WebTransport endpoint (UDP)");
    let shutdown = CancellationToken::new();
    tokio::spawn(watch_signals(shutdown.clone()));
    app.run(shutdown).await
}

async fn apply_campaigns(config: server::Config) -> anyhow::Result<()> {
    let tasks = server::tasks::Tasks::new();
    let store = store::connect(
        config.database_url.as_str(),
        config.db_max_connections,
        &tasks,
        std::sync::Arc::default(),
    )
    .await?;
    let dir = config.campaigns_dir.unwrap_or_else(|| "campaigns".into());
    let applied = campaign::files::apply_dir(store.as_ref(), &dir).await;
    tasks.stop(config.shutdown_timeout).await;
    for (slug, outcome) in applied? {
        println!("{slug}: {outcome:?}");
    }
    Ok(())
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
