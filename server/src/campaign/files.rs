//! Campaigns kept as numbered files: `campaigns/NNN_name.toml`, applied in number
//! order at start (and by `ovasabi-edge campaigns apply`), so that a new campaign
//! is configuration, not code.
//!
//! A file holds the fields of a campaign (`name`, `status`, `starts_at`,
//! `ends_at`, `[config]`); `slug` may be left out, and is then the file's name
//! part with `_` read as `-` (`001_ovasabi_website.toml` → `ovasabi-website`).
//! Applying is idempotent: a campaign that already matches its file is not
//! written again.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::model::campaign::NewCampaign;
use crate::store::{Store, StoreError};

/// A campaign file that was read and validated.
#[derive(Debug, Clone)]
pub struct CampaignFile {
    /// Where it was read from.
    pub path: PathBuf,
    /// Its order number (`NNN`).
    pub number: u32,
    /// The campaign it describes.
    pub spec: NewCampaign,
    /// SHA-256 of the file's bytes (hex): which version of it this is.
    pub hash: String,
}

/// Why the campaign files could not be used.
#[derive(Debug, thiserror::Error)]
pub enum CampaignFileError {
    /// The folder could not be listed or a file read.
    #[error("{path}: {source}")]
    Io {
        /// The path concerned.
        path: PathBuf,
        /// The I/O failure.
        source: std::io::Error,
    },
    /// A file's name or content is wrong.
    #[error("{path}: {reason}")]
    Invalid {
        /// The file concerned.
        path: PathBuf,
        /// What is wrong, for a person.
        reason: String,
    },
}

/// What applying one file did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApplyOutcome {
    /// The campaign did not exist and was created.
    Created,
    /// The campaign differed from its file and was updated.
    Updated,
    /// The campaign already matched its file.
    Unchanged,
    /// The file has not changed since it was last applied: the campaign is
    /// left as it is, with whatever was changed through the API since.
    Kept,
}

fn invalid(path: &Path, reason: impl Into<String>) -> CampaignFileError {
    CampaignFileError::Invalid {
        path: path.to_owned(),
        reason: reason.into(),
    }
}

/// Splits `NNN_name.toml` into its number and name.
pub(crate) fn parse_file_name(path: &Path) -> Result<(u32, String), CampaignFileError> {
    let stem = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(|n| n.strip_suffix(".toml"))
        .ok_or_else(|| invalid(path, "file name is not UTF-8 or does not end in .toml"))?;
    let (number, name) = stem
        .split_once('_')
        .filter(|(n, rest)| {
            n.len() == 3 && n.bytes().all(|b| b.is_ascii_digit()) && !rest.is_empty()
        })
        .ok_or_else(|| {
            invalid(
                path,
                "file name must look like NNN_name.toml (e.g. 001_ovasabi_website.toml)",
            )
        })?;
    let number = number
        .parse()
        .map_err(|_| invalid(path, "file number is not a number"))?;
    Ok((number, name.replace('_', "-")))
}

/// Reads a campaign from the text of a campaign file; without a `slug` in
/// it, `default_slug` (none: a missing slug is an error). The reason is for a
/// person, naming the field at fault.
pub(crate) fn parse_campaign(
    text: &str,
    default_slug: Option<&str>,
) -> Result<NewCampaign, String> {
    let mut table: toml::Table = toml::from_str(text).map_err(|e| e.message().to_owned())?;
    if let Some(slug) = default_slug {
        table
            .entry("slug")
            .or_insert_with(|| toml::Value::String(slug.to_owned()));
    }
    let spec: NewCampaign = serde_path_to_error::deserialize(table)
        .map_err(|e| format!("{}: {}", e.path(), e.inner().message()))?;
    spec.validate().map_err(|e| e.to_string())?;
    Ok(spec)
}

/// Reads and validates one campaign file.
pub fn read_file(path: &Path) -> Result<CampaignFile, CampaignFileError> {
    let (number, derived_slug) = parse_file_name(path)?;
    let text = std::fs::read_to_string(path).map_err(|source| CampaignFileError::Io {
        path: path.to_owned(),
        source,
    })?;
    let spec =
        parse_campaign(&text, Some(&derived_slug)).map_err(|reason| invalid(path, reason))?;
    let hash = crate::model::text::sha256_hex(&text);
    Ok(CampaignFile {
        path: path.to_owned(),
        number,
        spec,
        hash,
    })
}

/// Reads every `*.toml` file of `dir`, in number order. A missing folder holds no campaigns.
pub(crate) fn read_dir(dir: &Path) -> Result<Vec<CampaignFile>, CampaignFileError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(CampaignFileError::Io {
                path: dir.to_owned(),
                source,
            });
        }
    };
    let mut files = Vec::new();
    for entry in entries {
        let path = entry
            .map_err(|source| CampaignFileError::Io {
                path: dir.to_owned(),
                source,
            })?
            .path();
        if path.extension().is_some_and(|ext| ext == "toml") {
            files.push(read_file(&path)?);
        }
    }
    files.sort_by_key(|f| f.number);
    let mut seen_numbers = HashMap::new();
    let mut seen_slugs = HashMap::new();
    for file in &files {
        if let Some(other) = seen_numbers.insert(file.number, &file.path) {
            return Err(invalid(
                &file.path,
                format!(
                    "number {:03} is also used by {}",
                    file.number,
                    other.display()
                ),
            ));
        }
        if let Some(other) = seen_slugs.insert(file.spec.slug.as_str(), &file.path) {
            return Err(invalid(
                &file.path,
                format!(
                    "slug {:?} is also defined by {}",
                    file.spec.slug,
                    other.display()
                ),
            ));
        }
    }
    Ok(files)
}

/// Applies `file` unless it was applied as it is (and its campaign exists),
/// then records its hash.
async fn apply_file(
    store: &dyn Store,
    file: &CampaignFile,
    force: bool,
) -> Result<ApplyOutcome, StoreError> {
    let slug = &file.spec.slug;
    if !force
        && store.campaign_file_hash(slug).await?.as_deref() == Some(file.hash.as_str())
        && store.campaign_by_slug(slug).await?.is_some()
    {
        return Ok(ApplyOutcome::Kept);
    }
    let outcome = apply(store, &file.spec).await?;
    store.record_campaign_file(slug, &file.hash).await?;
    Ok(outcome)
}

/// Creates or updates the campaign a file describes.
pub(crate) async fn apply(
    store: &dyn Store,
    spec: &NewCampaign,
) -> Result<ApplyOutcome, StoreError> {
    // Two instances starting together may race on the insert: the loser re-reads.
    for _ in 0..2 {
        match store.campaign_by_slug(&spec.slug).await? {
            Some(existing) if existing.matches(spec) => return Ok(ApplyOutcome::Unchanged),
            Some(existing) => {
                // A deploy does not reopen an ended campaign (nor move one
                // otherwise against the rules): the stored status stays.
                let status = if existing.status.can_become(spec.status) {
                    spec.status
                } else {
                    tracing::warn!(
                        slug = %spec.slug,
                        stored = existing.status.as_str(),
                        file = spec.status.as_str(),
                        "the campaign file's status is not a move its campaign may make; the stored one stays"
                    );
                    existing.status
                };
                let next = crate::model::campaign::Campaign {
                    name: spec.name.clone(),
                    status,
                    starts_at: spec.starts_at,
                    ends_at: spec.ends_at,
                    config: spec.config.clone(),
                    ..existing
                };
                store.update_campaign(&next).await?;
                return Ok(ApplyOutcome::Updated);
            }
            None => match store.insert_campaign(spec).await {
                Ok(_) => return Ok(ApplyOutcome::Created),
                Err(StoreError::Conflict { .. }) => continue,
                Err(e) => return Err(e),
            },
        }
    }
    Err(StoreError::Conflict { field: "slug" })
}

/// Reads `dir` and applies every file in order, logging what each did.
/// Webhook receivers in the files are checked against `policy`. A file is
/// applied only when it changed since it was last applied (or its campaign
/// is gone), unless `force`: a restart does not undo what an admin changed
/// through the API.
pub async fn apply_dir(
    store: &dyn Store,
    dir: &Path,
    policy: crate::config::TargetPolicy,
    force: bool,
) -> anyhow::Result<Vec<(String, ApplyOutcome)>> {
    let files = read_dir(dir)?;
    for file in &files {
        file.spec
            .config
            .check_webhook_targets(&policy)
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.path.display()))?;
    }
    if files.is_empty() {
        tracing::info!(dir = %dir.display(), "no campaign files to apply");
    }
    let mut outcomes = Vec::with_capacity(files.len());
    for file in files {
        let outcome = apply_file(store, &file, force)
            .await
            .map_err(|e| anyhow::anyhow!("{}: {e}", file.path.display()))?;
        tracing::info!(slug = %file.spec.slug, file = %file.path.display(), ?outcome, "campaign file applied");
        outcomes.push((file.spec.slug, outcome));
    }
    Ok(outcomes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        let (n, slug) =
            parse_file_name(Path::new("campaigns/001_ovasabi_website.toml")).expect("good name");
        assert_eq!((n, slug.as_str()), (1, "ovasabi-website"));
        for bad in [
            "1_x.toml",
            "001x.toml",
            "001_.toml",
            "abc_x.toml",
            "001_x.yaml",
        ] {
            assert!(parse_file_name(Path::new(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn errors_name_the_file_and_field() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("002_spring.toml");
        std::fs::write(&path, "name = \"Spring\"\n[config.cursor]\ntick_hz = 0\n").expect("write");
        let err = read_file(&path).expect_err("tick 0 is invalid").to_string();
        assert!(err.contains("002_spring.toml"), "{err}");
        assert!(err.contains("config.cursor.tick_hz"), "{err}");

        std::fs::write(&path, "name = \"Spring\"\nstatuss = \"active\"\n").expect("write");
        let err = read_file(&path).expect_err("unknown key").to_string();
        assert!(err.contains("statuss"), "{err}");
    }

    #[test]
    fn shipped_campaign_files_are_valid() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../campaigns");
        let files = read_dir(&dir).expect("shipped campaign files are valid");
        assert!(
            files.iter().any(|f| f.spec.slug == "ovasabi-website"),
            "the Ovasabi website campaign ships"
        );
    }
}
