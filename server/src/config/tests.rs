//! The configuration's parser, defaults, ranges and printing.

use clap::CommandFactory;

use super::*;

#[test]
fn defaults_are_valid_and_the_same_for_tests() {
    let config =
        Config::from_flags(["--database-url", DEFAULT_DATABASE_URL]).expect("defaults are valid");
    assert_eq!(config.admin_token.source, SecretSource::Generated);
    assert_eq!(config.admin_token.value.len(), 32);
    assert_ne!(config.admin_token.value, config.session_secret.value);
    let test = Config::for_database("sqlite::memory:");
    assert_eq!(test.db_max_connections, config.db_max_connections);
    assert_eq!(test.session_ttl, config.session_ttl);
    assert_eq!(test.shutdown_timeout, config.shutdown_timeout);
    assert_eq!(test.session_ttl, Duration::from_secs(720 * 3600));
    assert_eq!(test.http_addr.port(), 0);
    assert!(test.campaigns_dir.is_none());
}

#[test]
fn the_command_line_is_well_formed() {
    Cli::command().debug_assert();
}

#[test]
fn bad_values_name_the_setting() {
    let cases: &[(&[&str], &str)] = &[
        (&["--http-addr", "nope"], "OVASABI_HTTP_ADDR"),
        (&["--database-url", "mysql://x"], "DATABASE_URL"),
        (&["--admin-token", "short"], "OVASABI_ADMIN_TOKEN"),
        (&["--webhook-url", "ftp://crm"], "OVASABI_WEBHOOK_URL"),
        (&["--max-body-bytes", "0"], "OVASABI_MAX_BODY_BYTES"),
        (&["--redis-url", "http://nope"], "REDIS_URL"),
        (&["--session-secret", "too-short"], "OVASABI_SESSION_SECRET"),
        (
            &["--webhook-max-attempts", "0"],
            "OVASABI_WEBHOOK_MAX_ATTEMPTS",
        ),
        (&["--webhook-backoff-ms", "1"], "OVASABI_WEBHOOK_BACKOFF_MS"),
        (&["--wt-public-url", "http://edge"], "OVASABI_WT_PUBLIC_URL"),
        (&["--sse-heartbeat-secs", "0"], "OVASABI_SSE_HEARTBEAT_SECS"),
        (&["--event-history", "0"], "OVASABI_EVENT_HISTORY"),
        (&["--idle-timeout-secs", "10"], "OVASABI_IDLE_TIMEOUT_SECS"),
        (&["--body-timeout-secs", "0"], "OVASABI_BODY_TIMEOUT_SECS"),
        (
            &["--handshake-timeout-secs", "0"],
            "OVASABI_HANDSHAKE_TIMEOUT_SECS",
        ),
        (
            &["--outbox-retention-days", "0"],
            "OVASABI_OUTBOX_RETENTION_DAYS",
        ),
        (
            &["--trusted-proxies", "10.0.0.0/33"],
            "OVASABI_TRUSTED_PROXIES",
        ),
        (
            &["--cors-origins", "https://x.example/path"],
            "OVASABI_CORS_ORIGINS",
        ),
    ];
    for (args, name) in cases {
        let err = Config::from_flags(*args).expect_err("invalid");
        assert_eq!(err.name, *name, "{args:?}: {err}");
    }
}

#[test]
fn printed_config_hides_secrets() {
    let mut config = Config::for_database("postgres://app:hunter2@db:5432/edge");
    config.redis_url = Some("redis://:s3cret@cache:6379".into());
    config.libretranslate_api_key = Some(Secret::configured("lt-key-123"));
    config.webhook_url = Some(HttpUrl(
        url::Url::parse("https://crm:pa55word@crm.example/hook").expect("url"),
    ));
    let printed = format!("{config:?}");
    for hidden in ["hunter2", "s3cret", "lt-key-123", "pa55word"] {
        assert!(!printed.contains(hidden), "{printed}");
    }
    for secret in [
        &config.admin_token,
        &config.session_secret,
        &config.webhook_secret,
    ] {
        assert!(!printed.contains(&secret.value), "{printed}");
    }
    assert!(printed.contains("shutdown_timeout"), "{printed}");
}
