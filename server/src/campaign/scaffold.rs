//! Launching a campaign with a command and a file: `campaigns new` writes the
//! next numbered campaign file and its document, `campaigns docs` writes the
//! documents again after a file changed, and `campaigns check` validates
//! every file and fails on a document out of date with its file.
//!
//! A campaign's document (`docs/campaign/NNN_name.md`) records what its front
//! end talks to — endpoints and live event types, from [`super::catalogue`]
//! and [`crate::model::events`] — and the configuration in force, defaults
//! included.

use std::fmt::Write;
use std::path::{Path, PathBuf};

use super::catalogue::ENDPOINTS;
use super::files::{CampaignFile, read_dir, read_file};
use crate::model::campaign::event_types::EventAudience;
use crate::model::campaign::is_valid_slug;

/// Where a campaign file's document lives: `docs/NNN_name.md` for `NNN_name.toml`.
pub(crate) fn doc_path(docs: &Path, file: &CampaignFile) -> PathBuf {
    let stem = file.path.file_stem().map_or_else(
        || file.spec.slug.clone(),
        |s| s.to_string_lossy().into_owned(),
    );
    docs.join(format!("{stem}.md"))
}

/// The document of `file` (generated: edit the campaign file, then run
/// `ovasabi-edge campaigns docs`).
pub fn campaign_doc(file: &CampaignFile) -> String {
    let spec = &file.spec;
    let mut doc = String::new();
    let file_name = file
        .path
        .file_name()
        .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
    let _ = writeln!(doc, "# {:03} {}\n", file.number, spec.name);
    let _ = writeln!(
        doc,
        "<!-- Generated from campaigns/{file_name} by `ovasabi-edge campaigns docs`; \
         `ovasabi-edge campaigns check` fails when it is out of date. -->\n"
    );
    let _ = writeln!(doc, "| | |\n|---|---|");
    let _ = writeln!(doc, "| slug | `{}` |", spec.slug);
    let _ = writeln!(doc, "| status | `{}` |", spec.status.as_str());
    let date = |d: Option<chrono::DateTime<chrono::Utc>>| {
        d.map_or_else(|| "—".to_owned(), |d| d.to_rfc3339())
    };
    let _ = writeln!(doc, "| opens | {} |", date(spec.starts_at));
    let _ = writeln!(doc, "| closes | {} |", date(spec.ends_at));
    let _ = writeln!(doc, "| locales | {} |", spec.config.locales.join(", "));
    let _ = writeln!(doc, "| campaign file | `campaigns/{file_name}` |\n");

    let _ = writeln!(doc, "## Endpoints\n");
    let _ = writeln!(doc, "| method | path | who | what |\n|---|---|---|---|");
    for endpoint in ENDPOINTS {
        let _ = writeln!(
            doc,
            "| `{}` | `{}` | {} | {} |",
            endpoint.method,
            endpoint.path.replace("{slug}", &spec.slug),
            endpoint.who,
            endpoint.what
        );
    }
    let _ = writeln!(doc, "\n## Live events\n");
    let _ = writeln!(
        doc,
        "On `GET /api/campaign/{}/events`:\n\n| event | data | who gets it |\n|---|---|---|",
        spec.slug
    );
    for event in spec.config.built_in_events() {
        let _ = writeln!(doc, "| `{}` | {} | {} |", event.name, event.data, event.who);
    }
    for (name, decl) in &spec.config.event_types {
        let fields: Vec<String> = decl
            .fields
            .iter()
            .map(|(field, rule)| {
                let kind = serde_json::to_value(rule.kind)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default();
                let required = if rule.required { "" } else { "?" };
                format!("{field}{required}: {kind}")
            })
            .collect();
        let who = match decl.audience {
            EventAudience::Public => "everyone",
            EventAudience::Private => "the session it is sent to",
        };
        let webhook = if decl.webhook { "; also a webhook" } else { "" };
        let what = if decl.description.is_empty() {
            String::new()
        } else {
            format!(" — {}", decl.description)
        };
        let _ = writeln!(
            doc,
            "| `{name}` | `{{{}}}`{what} (the campaign's own, sent by its back office{webhook}) | {who} |",
            fields.join(", ")
        );
    }
    let _ = writeln!(
        doc,
        "\n## Configuration in force\n\nThe campaign file's `[config]` with every default filled in:\n\n```toml"
    );
    let config = toml::to_string(&spec.config).unwrap_or_else(|e| format!("# {e}\n"));
    let _ = write!(doc, "{config}");
    let _ = writeln!(doc, "```");
    doc
}

/// What `campaigns new` wrote.
#[derive(Debug)]
pub struct Scaffolded {
    /// The campaign file.
    pub file: PathBuf,
    /// Its document.
    pub doc: PathBuf,
}

/// Writes the next numbered campaign file of `dir` for `slug` (a draft named
/// `name`, or after its slug), and its document in `docs`.
pub fn new_campaign(
    dir: &Path,
    docs: &Path,
    slug: &str,
    name: Option<&str>,
) -> anyhow::Result<Scaffolded> {
    anyhow::ensure!(
        is_valid_slug(slug),
        "{slug:?} is not a slug: lower-case letters, digits and single dashes, up to 64"
    );
    let existing = read_dir(dir)?;
    if let Some(file) = existing.iter().find(|f| f.spec.slug == slug) {
        anyhow::bail!("{slug:?} is already defined by {}", file.path.display());
    }
    let number = existing.iter().map(|f| f.number).max().unwrap_or(0) + 1;
    anyhow::ensure!(
        number <= 999,
        "{} already holds campaign 999",
        dir.display()
    );
    let name = name.map_or_else(|| title(slug), str::to_owned);
    let path = dir.join(format!("{number:03}_{}.toml", slug.replace('-', "_")));
    std::fs::create_dir_all(dir)?;
    std::fs::write(&path, template(slug, &name))?;
    let file = read_file(&path)?;
    let doc = doc_path(docs, &file);
    std::fs::create_dir_all(docs)?;
    std::fs::write(&doc, campaign_doc(&file))?;
    Ok(Scaffolded { file: path, doc })
}

/// Writes the document of every campaign file of `dir` into `docs`; returns
/// the documents that changed.
pub fn write_docs(dir: &Path, docs: &Path) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for file in read_dir(dir)? {
        let path = doc_path(docs, &file);
        let doc = campaign_doc(&file);
        if std::fs::read_to_string(&path).ok().as_deref() != Some(doc.as_str()) {
            std::fs::create_dir_all(docs)?;
            std::fs::write(&path, doc)?;
            written.push(path);
        }
    }
    Ok(written)
}

/// Validates every campaign file of `dir` (as a start would) and compares
/// each document in `docs` with what its file makes; returns the problems.
pub fn check(dir: &Path, docs: &Path) -> Vec<String> {
    let files = match read_dir(dir) {
        Ok(files) => files,
        Err(e) => return vec![e.to_string()],
    };
    let mut problems = Vec::new();
    for file in files {
        let path = doc_path(docs, &file);
        match std::fs::read_to_string(&path) {
            Ok(doc) if doc == campaign_doc(&file) => {}
            Ok(_) => problems.push(format!(
                "{} is out of date with {} (run `ovasabi-edge campaigns docs`)",
                path.display(),
                file.path.display()
            )),
            Err(_) => problems.push(format!(
                "{} is missing for {} (run `ovasabi-edge campaigns docs`)",
                path.display(),
                file.path.display()
            )),
        }
    }
    problems
}

/// `spring-sale` → `Spring sale`.
fn title(slug: &str) -> String {
    let words = slug.replace('-', " ");
    let mut chars = words.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().chain(chars).collect()
    })
}

/// A new campaign file: a draft with the settings a campaign usually sets.
fn template(slug: &str, name: &str) -> String {
    let name = name.replace('\\', "\\\\").replace('"', "\\\"");
    format!(
        r#"# Campaign "{name}". Applied (created or updated) at start when this file
# changed since it was last applied, or by `ovasabi-edge campaigns apply`;
# after editing it, run `ovasabi-edge campaigns docs` (its document) and
# `ovasabi-edge campaigns check`. Every setting is in README "Campaigns as code".
# Dates are RFC 3339 strings, e.g. starts_at = "2027-01-01T00:00:00Z".
slug = "{slug}"
name = "{name}"
# draft (only admins see it), active, paused or ended.
status = "draft"

[config]
milestones = [1, 10, 50, 100]
locales = ["en"]
# Other origins the campaign's pages are served from, e.g. ["https://{slug}.example.com"].
origins = []

[config.events]
# Show every visitor that a lead came in (nothing personal is sent).
public_leads = false
"#
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_template_is_a_valid_campaign() {
        let spec =
            super::super::files::parse_campaign(&template("spring-sale", "Spring \"sale\""), None)
                .expect("valid");
        assert_eq!(spec.slug, "spring-sale");
        assert_eq!(spec.name, "Spring \"sale\"");
        assert_eq!(title("spring-sale"), "Spring sale");
    }
}
