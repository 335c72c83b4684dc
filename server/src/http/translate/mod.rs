//! `POST /api/translate`: a page's strings in one of the campaign's locales;
//! `PUT /api/translate/override` (an editor): a human translation that always
//! wins; `GET /api/translate/memory` (the team): what the memory holds per
//! locale, machine and human, with its age.

mod bodies;

use salvo::prelude::*;
use salvo_oapi::endpoint;

pub(crate) use self::bodies::{
    Context, Format, MAX_TEXT_CHARS, MAX_TEXTS, MAX_TOTAL_CHARS, OverrideBody, TranslateAnswer,
    TranslateBody,
};
use self::bodies::{MAX_CONTEXT_KEY, MemoryList, MemoryListed, Stored};

use super::{ApiError, campaign_query, client_ip, json_body, page, state, team};
use crate::model::campaign::Campaign;
use crate::model::campaign::settings::is_locale_tag;
use crate::model::schema;
use crate::model::team::{AuditAction, Role};
use crate::model::translation::{MemoryEntry, MemoryOrigin};
use crate::request::answers;
use crate::request::markers::PageQuery;
use crate::translate::{TranslationRequest, context_key, text_hash};

/// Routes of this resource.
pub(crate) fn router() -> Router {
    Router::with_path("api/translate")
        .post(translate)
        .push(Router::with_path("override").put(set_override))
        .push(Router::with_path("memory").get(memory))
}

/// The source and target languages of a request, checked against the campaign.
fn languages(
    campaign: &Campaign,
    source: Option<&str>,
    target: &str,
) -> Result<(String, String), ApiError> {
    if !campaign.config.locales.iter().any(|l| l == target) {
        return Err(ApiError::Unprocessable {
            code: "unsupported_locale",
            message: format!(
                "this campaign is offered in {}",
                campaign.config.locales.join(", ")
            ),
            field: Some("target".into()),
        });
    }
    let source = match source {
        None => campaign.config.locales[0].clone(),
        Some("auto") => "auto".to_owned(),
        Some(tag) if is_locale_tag(tag) => tag.to_owned(),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "source",
                "must be \"auto\" or a locale tag",
            ));
        }
    };
    Ok((source, target.to_owned()))
}

fn context_of(format: Format, context: Option<&Context>) -> Result<String, ApiError> {
    let page = context.and_then(|c| c.page.as_deref());
    let hint = context.and_then(|c| c.hint.as_deref());
    for (field, value) in [("context.page", page), ("context.hint", hint)] {
        if value.is_some_and(|v| v.chars().count() > 500) {
            return Err(ApiError::invalid_field(
                field,
                "must be at most 500 characters",
            ));
        }
    }
    if let Some(locale) = context.and_then(|c| c.locale.as_deref())
        && !is_locale_tag(locale)
    {
        return Err(ApiError::invalid_field(
            "context.locale",
            "must be a locale tag",
        ));
    }
    Ok(context_key(format.as_str(), page, hint))
}

/// A context key as the memory stores it (`format|page|hint`, or
/// `format|#<sha-256>` for a long one); 422 otherwise.
fn stored_context_key(key: &str) -> Result<String, ApiError> {
    let well_formed = key.len() <= MAX_CONTEXT_KEY
        && (key.starts_with("text|") || key.starts_with("html|"))
        && !key.chars().any(char::is_control);
    if well_formed {
        Ok(key.to_owned())
    } else {
        Err(ApiError::invalid_field(
            "context_key",
            "must be a context_key as GET /api/translate/memory lists it",
        ))
    }
}

/// Translate a page's strings
///
/// Each text comes from the campaign's overrides, the translation memory,
/// or LibreTranslate (then remembered), in that order; a text it cannot
/// translate comes back as it was (`untranslated`).
#[endpoint(
    tags("translation"),
    request_body = TranslateBody,
    responses(
        (status_code = 200, description = "Translations", body = TranslateAnswer),
        answers::Form,
    )
)]
async fn translate(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let body: TranslateBody = json_body(req, &state.config).await?;
    super::check_campaign_origin(req, &state, &body.campaign).await?;
    let campaign = state.forms.visible_campaign(&body.campaign, false).await?;
    state
        .forms
        .rate_limit(
            "translate",
            &campaign,
            &client_ip(req, &state),
            campaign.config.rate_limits.translations_per_minute,
        )
        .await?;
    let (source, target) = languages(&campaign, body.source.as_deref(), &body.target)?;
    if body.texts.is_empty() || body.texts.len() > MAX_TEXTS {
        return Err(ApiError::invalid_field(
            "texts",
            format!("must hold 1 to {MAX_TEXTS} texts"),
        ));
    }
    let mut total = 0;
    for (i, text) in body.texts.iter().enumerate() {
        let chars = text.chars().count();
        if chars > MAX_TEXT_CHARS {
            return Err(ApiError::invalid_field(
                format!("texts[{i}]"),
                format!("must be at most {MAX_TEXT_CHARS} characters"),
            ));
        }
        total += chars;
    }
    if total > MAX_TOTAL_CHARS {
        return Err(ApiError::invalid_field(
            "texts",
            format!("must hold at most {MAX_TOTAL_CHARS} characters in all"),
        ));
    }
    let request = TranslationRequest {
        campaign_id: campaign.id,
        glossary: campaign.config.glossary.clone(),
        source,
        target,
        format: body.format.as_str().to_owned(),
        context_key: context_of(body.format, body.context.as_ref())?,
        texts: body.texts,
    };
    let outcome = state.translator.translate(&request).await?;
    res.render(Json(TranslateAnswer {
        translations: outcome.translations,
        detected_source: outcome.detected_source,
        machine_translation: outcome.machine,
    }));
    Ok(())
}

/// Set a human translation (editor)
#[endpoint(
    tags("translation"),
    security(("adminToken" = ["editor"])),
    request_body = OverrideBody,
    responses(
        (status_code = 200, description = "Stored", body = Stored),
        answers::TeamWrite,
    )
)]
async fn set_override(
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Editor).await?;
    let body: OverrideBody = json_body(req, &state.config).await?;
    let campaign = state.forms.visible_campaign(&body.campaign, true).await?;
    by.in_scope(campaign.id)?;
    let (source, target) = languages(&campaign, body.source.as_deref(), &body.target)?;
    for (field, value) in [("text", &body.text), ("translation", &body.translation)] {
        if value.is_empty() || value.chars().count() > MAX_TEXT_CHARS {
            return Err(ApiError::invalid_field(
                field,
                format!("must be 1-{MAX_TEXT_CHARS} characters"),
            ));
        }
    }
    let entry = MemoryEntry {
        campaign_id: campaign.id,
        source_lang: source,
        target_lang: target,
        context_key: match &body.context_key {
            None => context_of(body.format, body.context.as_ref())?,
            Some(_) if body.context.is_some() => {
                return Err(ApiError::invalid_field(
                    "context_key",
                    "send either context_key or context, not both",
                ));
            }
            Some(key) => stored_context_key(key)?,
        },
        source_hash: text_hash(&body.text),
        source_text: body.text,
        translated_text: body.translation,
        origin: MemoryOrigin::Override,
    };
    let carried = state.clone();
    let entry = state.team.carried(async move {
        let state = carried;
        let before = state
            .store
            .memory_lookup(
                campaign.id,
                &entry.source_lang,
                &entry.target_lang,
                &entry.context_key,
                std::slice::from_ref(&entry.source_hash),
            )
            .await?
            .into_iter()
            .next();
        state
            .store
            .memory_store(std::slice::from_ref(&entry))
            .await?;
        tracing::info!(campaign = %campaign.slug, target = %entry.target_lang, "translation override set");
        let shown = |e: &MemoryEntry| {
            serde_json::json!({
                "source": e.source_lang, "target": e.target_lang, "context": e.context_key,
                "text": e.source_text, "translation": e.translated_text, "origin": e.origin.as_str(),
            })
        };
        let change = by.change(
            AuditAction::TranslationOverride,
            Some(campaign.id),
            format!(
                "{}>{} {}",
                entry.source_lang, entry.target_lang, entry.source_hash
            ),
            before.as_ref().map(shown),
            Some(shown(&entry)),
        );
        state.team.record(change).await;
        Ok(entry)
    })
    .await?;
    res.render(Json(Stored {
        text: entry.source_text,
        translation: entry.translated_text,
        origin: "override",
    }));
    Ok(())
}

/// What the translation memory holds for a campaign, most recently changed first: per target locale and origin, with age (viewer)
#[endpoint(
    tags("translation"),
    security(("adminToken" = ["viewer"])),
    parameters(
        ("campaign" = schema::Slug, Query, description = "The campaign's slug"),
        ("target" = Option<String>, Query, description = "One of the campaign's locales"),
        ("origin" = Option<String>, Query, pattern = "^(machine|override)$", description = "`machine` or `override`"),
    ),
    responses(
        (status_code = 200, description = "Entries", body = MemoryList),
        answers::Key,
        answers::NotFound,
        answers::Invalid,
        answers::Unavailable,
    )
)]
async fn memory(
    _page: PageQuery,
    req: &mut Request,
    depot: &mut Depot,
    res: &mut Response,
) -> Result<(), ApiError> {
    let state = state(depot)?;
    let by = team(req, &state, Role::Viewer).await?;
    let campaign = campaign_query(req, &state).await?;
    by.in_scope(campaign.id)?;
    let target = req.query::<String>("target");
    if let Some(target) = &target
        && !campaign.config.locales.iter().any(|l| l == target)
    {
        return Err(ApiError::invalid_field(
            "target",
            format!(
                "must be one of the campaign's locales: {}",
                campaign.config.locales.join(", ")
            ),
        ));
    }
    let origin = match req.query::<String>("origin").as_deref() {
        None => None,
        Some("machine") => Some(MemoryOrigin::Machine),
        Some("override") => Some(MemoryOrigin::Override),
        Some(_) => {
            return Err(ApiError::invalid_field(
                "origin",
                "must be machine or override",
            ));
        }
    };
    let rows = state
        .store
        .memory_list(campaign.id, target.as_deref(), origin, page(req)?)
        .await?;
    let entries: Vec<MemoryListed> = rows.into_iter().map(Into::into).collect();
    res.render(Json(MemoryList { entries }));
    Ok(())
}
