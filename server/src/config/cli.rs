//! The command line: a subcommand, then the configuration, read once;
//! a bad value is reported under the environment variable that names it.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use std::path::PathBuf;

use clap::{CommandFactory, Parser, Subcommand};

use super::{Config, ConfigError};

/// Command line of `ovasabi-edge`: a subcommand and the configuration.
#[derive(Debug, Parser)]
#[command(
    name = "ovasabi-edge",
    version,
    about = "The real-time backend of a campaign website"
)]
pub struct Cli {
    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
    /// The configuration.
    #[command(flatten)]
    pub config: Config,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the server (the default).
    Serve,
    /// Ask this configuration's running server whether it is up
    /// (`GET /healthz` on OVASABI_HTTP_ADDR): exit 0 when it is, 1 when not.
    /// For container health checks, where no HTTP client is installed.
    Health,
    /// Apply the migrations the database lacks (creating an SQLite file if
    /// missing), print them, and exit: a pre-deploy step.
    Migrate,
    /// Print the API description (OpenAPI 3.1, what `GET /api/openapi.json`
    /// serves) and exit: for client generators, without a running server.
    Openapi,
    /// Campaign files.
    Campaigns {
        /// What to do with them.
        #[command(subcommand)]
        action: CampaignsAction,
    },
}

/// Actions on campaign files.
#[derive(Debug, Subcommand)]
pub enum CampaignsAction {
    /// Write the next numbered campaign file (a draft) for SLUG and its
    /// document, then exit.
    New {
        /// The campaign's slug (lower-case letters, digits, dashes).
        slug: String,
        /// Its name (default: from the slug).
        #[arg(long)]
        name: Option<String>,
        /// Folder of the campaign documents.
        #[arg(long, default_value = "docs/campaign")]
        docs: PathBuf,
    },
    /// Write the document of every campaign file again (after editing one).
    Docs {
        /// Folder of the campaign documents.
        #[arg(long, default_value = "docs/campaign")]
        docs: PathBuf,
    },
    /// Validate every campaign file and fail (exit 1) on a document out of
    /// date with its file.
    Check {
        /// Folder of the campaign documents.
        #[arg(long, default_value = "docs/campaign")]
        docs: PathBuf,
    },
    /// Apply (create or update) every campaign file that changed since it was
    /// last applied, then exit.
    Apply {
        /// Apply every file, changed or not (undoing changes made through the API).
        #[arg(long)]
        force: bool,
    },
}

impl Cli {
    /// Reads the command line and environment. A bad setting is a
    /// [`ConfigError`] naming it; `--help`, `--version` and usage mistakes are
    /// clap's own errors, to be printed by it.
    pub fn read() -> Result<Self, ReadError> {
        let mut cli = Self::try_parse().map_err(|e| {
            let mut command = Self::command();
            command.build();
            ReadError::from_clap(&command, e)
        })?;
        cli.config = cli.config.finish().map_err(ReadError::Invalid)?;
        Ok(cli)
    }
}

/// Why the command line could not be read.
#[derive(Debug)]
pub enum ReadError {
    /// A setting has a value that cannot be used.
    Invalid(ConfigError),
    /// Help, version or a usage mistake: clap prints it and picks the exit code.
    Clap(clap::Error),
}

impl ReadError {
    pub(super) fn from_clap(command: &clap::Command, error: clap::Error) -> Self {
        if !matches!(
            error.kind(),
            ErrorKind::InvalidValue | ErrorKind::ValueValidation
        ) {
            return Self::Clap(error);
        }
        let Some(ContextValue::String(shown)) = error.get(ContextKind::InvalidArg) else {
            return Self::Clap(error);
        };
        let arg = all_args(command).find(|a| a.to_string() == *shown);
        let name = match arg.and_then(|a| a.get_env()) {
            Some(env) => env.to_string_lossy().into_owned(),
            None => shown.clone(),
        };
        let reason = match std::error::Error::source(&error) {
            Some(source) => source.to_string(),
            None => match error.get(ContextKind::InvalidValue) {
                Some(ContextValue::String(value)) => format!("invalid value {value:?}"),
                _ => "invalid value".to_owned(),
            },
        };
        Self::Invalid(ConfigError { name, reason })
    }
}

fn all_args(command: &clap::Command) -> impl Iterator<Item = &clap::Arg> {
    command
        .get_arguments()
        .chain(command.get_subcommands().flat_map(|s| s.get_arguments()))
}
