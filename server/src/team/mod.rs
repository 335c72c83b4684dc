//! The campaign team: who is calling the admin API (a named key, the admin
//! token or the service token), what their role and campaign scope let them
//! do, the keys an owner makes and revokes, and the audit log every change
//! is written to.
//!
//! REST and gRPC ask the same questions here: [`Team::caller`] says who a bearer
//! is, [`Caller::require`] / [`Caller::require_in`] whether they may.

use chrono::Utc;
use serde_json::Value;

use crate::error::ApiError;
use crate::model::campaign::Campaign;
use crate::model::team::{ApiKey, AuditAction, KEY_PREFIX, NewAudit, Role, key_hash};
use std::sync::Arc;
use std::time::Duration;

use crate::bus::EventBus;
use crate::campaign::cache::CampaignCache;
use crate::campaign::changes::LeaderboardChanges;
use crate::config::Config;
use crate::revocation::Revocations;
use crate::session::SessionKeys;
use crate::store::SharedStore;
use crate::tasks::Tasks;

pub(crate) mod consumers;
mod erasure;
mod keys;
pub(crate) mod revocations;

pub(crate) use keys::{KeyRequest, MadeKey};

/// The team's service: who calls (the admin token, named keys), the keys
/// an owner makes and revokes, the feed's named consumers, erasure, the
/// audit log, and how every instance learns of a revocation. Built from the
/// configuration and the handles it needs; cloned where it is used.
#[derive(Clone)]
pub(crate) struct Team {
    admin_token: String,
    feed_consumer_idle: Duration,
    store: SharedStore,
    campaigns: Arc<CampaignCache>,
    bus: Arc<dyn EventBus>,
    sessions: Arc<SessionKeys>,
    revocations: Arc<Revocations>,
    leaderboard_changes: Arc<LeaderboardChanges>,
    tasks: Tasks,
}

/// The handles the team's service works with.
pub(crate) struct TeamHandles {
    pub(crate) store: SharedStore,
    pub(crate) campaigns: Arc<CampaignCache>,
    pub(crate) bus: Arc<dyn EventBus>,
    pub(crate) sessions: Arc<SessionKeys>,
    pub(crate) revocations: Arc<Revocations>,
    pub(crate) leaderboard_changes: Arc<LeaderboardChanges>,
    pub(crate) tasks: Tasks,
}

impl Team {
    /// The service for `config`, with `handles`.
    pub(crate) fn new(config: &Config, handles: TeamHandles) -> Self {
        let TeamHandles {
            store,
            campaigns,
            bus,
            sessions,
            revocations,
            leaderboard_changes,
            tasks,
        } = handles;
        Self {
            admin_token: config.admin_token.value.clone(),
            feed_consumer_idle: config.feed_consumer_idle,
            store,
            campaigns,
            bus,
            sessions,
            revocations,
            leaderboard_changes,
            tasks,
        }
    }
}

/// The name the configured admin token acts under.
pub(crate) const ADMIN_TOKEN: &str = "admin token";

/// The name the configured service token acts under (gRPC).
pub(crate) const SERVICE_TOKEN: &str = "service token";

/// Who is calling the admin API, and what they may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Caller {
    /// The key's name, or [`ADMIN_TOKEN`] / [`SERVICE_TOKEN`].
    pub name: String,
    /// The named key, if one.
    pub key_id: Option<i64>,
    /// What it may do.
    pub role: Role,
    /// The one campaign it may see (id, slug); all when `None`.
    pub scope: Option<(i64, String)>,
}

impl Caller {
    /// The configured admin token: an owner of everything, the team's
    /// bootstrap (it makes the first keys).
    pub(crate) fn admin_token() -> Self {
        Self {
            name: ADMIN_TOKEN.to_owned(),
            key_id: None,
            role: Role::Owner,
            scope: None,
        }
    }

    /// The configured service token (gRPC back-office systems): an owner of
    /// everything, as it always was.
    pub(crate) fn service_token() -> Self {
        Self {
            name: SERVICE_TOKEN.to_owned(),
            ..Self::admin_token()
        }
    }

    fn of_key(key: ApiKey) -> Self {
        Self {
            scope: key.campaign_id.zip(key.campaign),
            name: key.name,
            key_id: Some(key.id),
            role: key.role,
        }
    }

    /// The id of the one campaign this caller may see, if it is scoped.
    pub(crate) fn scope_id(&self) -> Option<i64> {
        self.scope.as_ref().map(|(id, _)| *id)
    }

    /// Whether this caller may see campaign `id`.
    pub(crate) fn sees(&self, id: i64) -> bool {
        self.scope_id().is_none_or(|scope| scope == id)
    }

    /// Whether this caller may see the campaign named `slug`.
    pub(crate) fn sees_slug(&self, slug: &str) -> bool {
        self.scope.as_ref().is_none_or(|(_, own)| own == slug)
    }

    /// 403 `role_required` unless this caller's role is at least `role`.
    pub(crate) fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::Forbidden {
                code: "role_required",
                message: format!(
                    "this needs {} key; {:?} is {} key",
                    with_article(role),
                    self.name,
                    with_article(self.role)
                ),
            })
        }
    }

    /// 403 unless this caller's role is at least `role` and it may see
    /// campaign `campaign_id` (`campaign_out_of_scope`).
    pub(crate) fn require_in(&self, role: Role, campaign_id: i64) -> Result<(), ApiError> {
        self.require(role)?;
        self.in_scope(campaign_id)
    }

    /// 403 `campaign_out_of_scope` unless this caller may see campaign
    /// `campaign_id`.
    pub(crate) fn in_scope(&self, campaign_id: i64) -> Result<(), ApiError> {
        match &self.scope {
            Some((id, slug)) if *id != campaign_id => Err(ApiError::Forbidden {
                code: "campaign_out_of_scope",
                message: format!("{:?} is a key of campaign {slug} only", self.name),
            }),
            _ => Ok(()),
        }
    }

    /// 403 unless this caller's role is at least `role` and it sees every
    /// campaign (what spans campaigns: creating one, erasing a person).
    pub(crate) fn require_unscoped(&self, role: Role) -> Result<(), ApiError> {
        self.require(role)?;
        match &self.scope {
            Some((_, slug)) => Err(ApiError::Forbidden {
                code: "campaign_out_of_scope",
                message: format!(
                    "{:?} is a key of campaign {slug} only; this needs a key of every campaign",
                    self.name
                ),
            }),
            None => Ok(()),
        }
    }

    /// 403 unless this caller's role is at least `role` and it may act on
    /// `campaign`: that campaign's, or — `None`, what spans campaigns —
    /// every campaign's ([`Self::require_in`], [`Self::require_unscoped`]).
    pub(crate) fn require_for(&self, role: Role, campaign: Option<i64>) -> Result<(), ApiError> {
        match campaign {
            Some(id) => self.require_in(role, id),
            None => self.require_unscoped(role),
        }
    }

    /// An audit entry of a change this caller made now.
    pub(crate) fn change(
        &self,
        action: AuditAction,
        campaign_id: Option<i64>,
        target: impl Into<String>,
        before: Option<Value>,
        after: Option<Value>,
    ) -> NewAudit {
        NewAudit {
            actor: self.name.clone(),
            actor_key_id: self.key_id,
            action,
            campaign_id,
            target: target.into(),
            before,
            after,
            at: Utc::now(),
        }
    }
}

/// Compares without stopping at the first differing byte.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// Whether `bearer` is `secret`, compared in constant time.
pub(crate) fn token_matches(bearer: Option<&str>, secret: &str) -> bool {
    bearer.is_some_and(|t| constant_time_eq(t.as_bytes(), secret.as_bytes()))
}

/// "a viewer", "an editor", "an owner".
fn with_article(role: Role) -> String {
    match role {
        Role::Viewer => "a viewer".to_owned(),
        other => format!("an {}", other.as_str()),
    }
}

/// What the audit log keeps of a campaign: everything the team sets.
pub(crate) fn campaign_summary(campaign: &Campaign) -> Value {
    serde_json::json!({
        "name": campaign.name,
        "status": campaign.status,
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "config": campaign.config.team_view(),
    })
}

impl Team {
    /// Who `bearer` is: the admin token, or a live named key (looked up by its
    /// SHA-256; only texts that look like keys are looked up, so a visitor's
    /// session token never costs a query). `None` for anything else.
    pub(crate) async fn caller(&self, bearer: Option<&str>) -> Result<Option<Caller>, ApiError> {
        let Some(bearer) = bearer else {
            return Ok(None);
        };
        if token_matches(Some(bearer), &self.admin_token) {
            return Ok(Some(Caller::admin_token()));
        }
        if !bearer.starts_with(KEY_PREFIX) {
            return Ok(None);
        }
        let key = self.store.live_key(&key_hash(bearer)).await?;
        Ok(key.map(Caller::of_key))
    }

    /// 401 `unauthorized` unless `bearer` is a team key (or the admin token)
    /// whose role is at least `role`.
    pub(crate) async fn require(
        &self,
        bearer: Option<&str>,
        role: Role,
    ) -> Result<Caller, ApiError> {
        let caller = self
            .caller(bearer)
            .await?
            .ok_or_else(|| ApiError::Unauthorized {
                code: "unauthorized",
                message: "this endpoint needs a team key or the admin token \
                  (Authorization: Bearer …)"
                    .into(),
            })?;
        caller.require(role)?;
        Ok(caller)
    }

    /// Whether `bearer` is a team key (or the admin token) that may see the
    /// campaign named `slug` (and so its drafts and private events).
    pub(crate) async fn sees_campaign(
        &self,
        bearer: Option<&str>,
        slug: &str,
    ) -> Result<bool, ApiError> {
        Ok(self
            .caller(bearer)
            .await?
            .is_some_and(|c| c.sees_slug(slug)))
    }

    /// Carries `change` — a change and the [`record`](Self::record) of it — to its end even
    /// if the caller goes away: it runs as a task of its own (tracked: shutdown
    /// waits for it) whose outcome the caller awaits. A client that hangs up
    /// after sending its request leaves the change made and audited, or not
    /// made at all; never made and unrecorded. Every audited change, over REST
    /// or gRPC, goes through here.
    pub(crate) async fn carried<T, F>(&self, change: F) -> Result<T, ApiError>
    where
        F: std::future::Future<Output = Result<T, ApiError>> + Send + 'static,
        T: Send + 'static,
    {
        self.tasks
            .carry("audited change", change)
            .await
            .unwrap_or_else(|| {
                Err(ApiError::Internal(anyhow::anyhow!(
                    "an audited change panicked"
                )))
            })
    }

    /// Writes `entry` to the audit log. The change it records is already made
    /// (each change is its own transaction, run by [`carried`](Self::carried), so the entry is
    /// written even if the caller hung up); should the log refuse the entry,
    /// the entry goes to the server's log instead, whole, at error level.
    pub(crate) async fn record(&self, entry: NewAudit) {
        if let Err(e) = self.store.record_audit(&entry).await {
            let before = entry.before.map(|v| v.to_string());
            let after = entry.after.map(|v| v.to_string());
            tracing::error!(
                error = %e,
                actor = %entry.actor,
                action = entry.action.as_str(),
                campaign_id = entry.campaign_id,
                target = %entry.target,
                before = before.as_deref().unwrap_or("null"),
                after = after.as_deref().unwrap_or("null"),
                "audit log entry not written"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scoped(role: Role) -> Caller {
        Caller {
            name: "Ada".into(),
            key_id: Some(1),
            role,
            scope: Some((7, "spring".into())),
        }
    }

    #[test]
    fn tokens_compare_whole() {
        assert!(constant_time_eq(b"abc", b"abc"));
        assert!(!constant_time_eq(b"abc", b"abd"));
        assert!(!constant_time_eq(b"abc", b"ab"));
        assert!(!token_matches(None, "abc"));
    }

    #[test]
    fn roles_and_scopes_decide() {
        let viewer = scoped(Role::Viewer);
        assert!(viewer.require(Role::Viewer).is_ok());
        let refused = viewer
            .require(Role::Editor)
            .expect_err("a viewer cannot edit");
        assert_eq!(refused.code(), "role_required");
        assert!(refused.to_string().contains("an editor key"), "{refused}");
        let refused = scoped(Role::Editor)
            .require(Role::Owner)
            .expect_err("owner");
        assert_eq!(
            refused.to_string(),
            "this needs an owner key; \"Ada\" is an editor key"
        );
        let owner = scoped(Role::Owner);
        assert!(owner.require_in(Role::Owner, 7).is_ok());
        assert_eq!(
            owner.require_in(Role::Viewer, 8).expect_err("scope").code(),
            "campaign_out_of_scope"
        );
        assert_eq!(
            owner
                .require_unscoped(Role::Viewer)
                .expect_err("scope")
                .code(),
            "campaign_out_of_scope"
        );
        assert!(owner.sees(7) && !owner.sees(8));
        assert!(owner.sees_slug("spring") && !owner.sees_slug("autumn"));
        let admin = Caller::admin_token();
        assert!(admin.require_unscoped(Role::Owner).is_ok() && admin.sees(8));
    }
}
