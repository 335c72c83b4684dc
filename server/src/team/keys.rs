//! The campaign team's keys: made by an owner (shown once, stored as their
//! SHA-256), listed, and revoked — at once on every instance, ending what
//! the key holds open ([`crate::revocation`]).

use chrono::Utc;
use serde_json::Value;

use super::{Caller, Team};
use crate::error::ApiError;
use crate::model::team::{
    ApiKey, AuditAction, KEY_PREFIX, MAX_NAME_CHARS, NewKey, Role, SHOWN_CHARS, key_hash,
};

/// What an owner asks for to make a key.
#[derive(Debug, Clone, serde::Deserialize, salvo_oapi::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct KeyRequest {
    /// Who will hold it.
    #[salvo(schema(schema_with = key_name_schema))]
    pub name: String,
    /// Its role.
    #[salvo(schema(value_type = Role))]
    pub role: String,
    /// The campaign (slug) it is limited to; every campaign when absent.
    #[serde(default)]
    pub campaign: Option<String>,
}

/// A key's name: trimmed, 1-[`MAX_NAME_CHARS`] characters, no control
/// character.
fn key_name_schema() -> salvo_oapi::schema::Object {
    use salvo_oapi::schema::{BasicType, Object};
    Object::with_type(BasicType::String)
        .min_length(1)
        .max_length(MAX_NAME_CHARS)
        .description("Who will hold it (trimmed; no control character)")
}

/// A key just made: the key's text is in `token`, shown this once.
#[derive(Debug, Clone, serde::Serialize, salvo_oapi::ToSchema)]
pub(crate) struct MadeKey {
    /// The stored key.
    pub key: ApiKey,
    /// The whole key (`ovk_…`), for `Authorization: Bearer`. Not stored; not
    /// shown again.
    pub token: String,
}

/// What the audit log keeps of a key (never its hash).
fn key_summary(key: &ApiKey) -> Value {
    serde_json::json!({
        "name": key.name,
        "role": key.role,
        "campaign": key.campaign,
        "hint": key.hint,
        "revoked_at": key.revoked_at,
    })
}

impl Team {
    /// Makes a key as `by` asks: its name unique among live keys, its scope
    /// within `by`'s own (a campaign's owner makes keys of that campaign only).
    pub(crate) async fn create_key(
        &self,
        by: &Caller,
        request: KeyRequest,
    ) -> Result<MadeKey, ApiError> {
        let name = request.name.trim().to_owned();
        if name.is_empty() || name.chars().count() > MAX_NAME_CHARS {
            return Err(ApiError::invalid_field(
                "name",
                format!("must be 1-{MAX_NAME_CHARS} characters"),
            ));
        }
        if name.chars().any(char::is_control) {
            return Err(ApiError::invalid_field(
                "name",
                "must not contain control characters",
            ));
        }
        let role = Role::parse(&request.role)
            .ok_or_else(|| ApiError::invalid_field("role", "must be viewer, editor or owner"))?;
        let campaign = match request.campaign.as_deref() {
            None => None,
            Some(slug) => Some(
                self.campaigns
                    .by_slug(self.store.as_ref(), slug)
                    .await?
                    .ok_or_else(|| ApiError::campaign_not_found(slug))?,
            ),
        };
        by.require_for(Role::Owner, campaign.as_ref().map(|c| c.id))?;
        let secret: [u8; 32] = rand::random();
        let token = format!(
            "{KEY_PREFIX}{}",
            base64::Engine::encode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, secret)
        );
        let hint = format!("{}…", &token[..KEY_PREFIX.len() + SHOWN_CHARS]);
        let key = self
            .store
            .insert_key(&NewKey {
                name,
                role,
                campaign_id: campaign.as_ref().map(|c| c.id),
                token_hash: key_hash(&token),
                hint,
                created_by: by.name.clone(),
                created_at: Utc::now(),
            })
            .await
            .map_err(|e| match e {
                crate::store::StoreError::Conflict { .. } => ApiError::Conflict {
                    code: "key_name_taken",
                    message: "a live key already has that name: revoke it first, or choose another"
                        .into(),
                    field: Some("name".into()),
                },
                other => other.into(),
            })?;
        tracing::info!(key = key.id, name = %key.name, role = role.as_str(), by = %by.name, "team key made");
        self.record(by.change(
            AuditAction::KeyCreated,
            key.campaign_id,
            key.id.to_string(),
            None,
            Some(key_summary(&key)),
        ))
        .await;
        Ok(MadeKey { key, token })
    }

    /// Revokes key `id` as `by` asks (an owner of the key's campaign, or of every
    /// campaign for an unscoped key); 404 `key_not_found` when there is no such
    /// live key.
    pub(crate) async fn revoke_key(&self, by: &Caller, id: i64) -> Result<ApiKey, ApiError> {
        let not_found = || ApiError::NotFound {
            code: "key_not_found",
            message: "no live key with that id".into(),
        };
        let current = self
            .store
            .key_by_id(id)
            .await?
            .filter(|k| k.revoked_at.is_none())
            .ok_or_else(not_found)?;
        by.require_for(Role::Owner, current.campaign_id)?;
        let revoked = self
            .store
            .revoke_key(id, Utc::now())
            .await?
            .ok_or_else(not_found)?;
        tracing::info!(key = id, name = %revoked.name, by = %by.name, "team key revoked");
        // What the key holds open ends: here at once, elsewhere when told.
        self.revocations.revoke_keys(&[id]);
        self.announce_revocations().await;
        self.record(by.change(
            AuditAction::KeyRevoked,
            revoked.campaign_id,
            id.to_string(),
            Some(key_summary(&current)),
            Some(key_summary(&revoked)),
        ))
        .await;
        Ok(revoked)
    }

    /// The keys `by` may see: every key, or those of its campaign.
    pub(crate) async fn keys(&self, by: &Caller) -> Result<Vec<ApiKey>, ApiError> {
        by.require(Role::Owner)?;
        Ok(self.store.list_keys(by.scope_id()).await?)
    }
}
