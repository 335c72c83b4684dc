//! Schema migrations: applied when the server starts (the default), as a step
//! of their own (`ovasabi-edge migrate`, for a pre-deploy job), or only
//! checked (`OVASABI_MIGRATE=false`: a start against a database that lacks
//! one refuses to run instead of altering it).
//!
//! Migrations only add (tables, columns, indexes), so a database migrated by
//! a newer version is used as it is: an instance of the previous version can
//! still start during a rolling deploy.

use sqlx::migrate::{Migrate, Migration, Migrator};

/// What a start does with migrations the database lacks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Migrations {
    /// Applies them (under the database's migration lock).
    Apply,
    /// Refuses to start, naming them.
    Require,
}

impl Migrations {
    /// `Apply` when the setting (`OVASABI_MIGRATE`) says so, else `Require`.
    pub fn applied_if(apply: bool) -> Self {
        if apply { Self::Apply } else { Self::Require }
    }
}

/// `migrator`, made to use a database migrated by a newer version as it is.
pub(super) fn tolerant(mut migrator: Migrator) -> Migrator {
    migrator.set_ignore_missing(true);
    migrator
}

/// The table sqlx records applied migrations in.
const TABLE: &str = "_sqlx_migrations";

/// A migration as people name it: `0006 memory last used`.
fn label(migration: &Migration) -> String {
    format!("{:04} {}", migration.version, migration.description)
}

/// Brings `conn`'s database to `migrator`'s schema as `policy` says; returns
/// the migrations applied now (`version description`).
pub(super) async fn prepare<C: Migrate>(
    migrator: &Migrator,
    conn: &mut C,
    policy: Migrations,
) -> anyhow::Result<Vec<String>> {
    // A database never migrated has no table to list: nothing is applied.
    let applied = conn
        .list_applied_migrations(TABLE)
        .await
        .unwrap_or_default();
    let pending: Vec<&Migration> = migrator
        .iter()
        .filter(|m| !m.migration_type.is_down_migration())
        .filter(|m| !applied.iter().any(|a| a.version == m.version))
        .collect();
    match policy {
        Migrations::Require if !pending.is_empty() => anyhow::bail!(
            "the database is not migrated (OVASABI_MIGRATE=false): it lacks {}; \
             run `ovasabi-edge migrate` first",
            pending
                .iter()
                .map(|m| label(m))
                .collect::<Vec<_>>()
                .join(", ")
        ),
        Migrations::Require => {
            // Applied, but also unchanged since? (An edited migration is a
            // mistake to stop at, as a start that applies them would.)
            for migration in migrator.iter() {
                if let Some(done) = applied.iter().find(|a| a.version == migration.version)
                    && done.checksum != migration.checksum
                {
                    anyhow::bail!(
                        "migration {} was changed after it was applied",
                        label(migration)
                    );
                }
            }
            Ok(Vec::new())
        }
        Migrations::Apply => {
            let applied: Vec<String> = pending.iter().map(|m| label(m)).collect();
            migrator.run_direct(None, conn, false).await?;
            Ok(applied)
        }
    }
}
