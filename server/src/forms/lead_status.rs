//! A lead's life after it was sent: the team moves it through its
//! statuses; every change reaches the submitter's session as `lead.status`,
//! the CRM through the outbox, and the audit log.

use serde_json::json;
use uuid::Uuid;

use super::Forms;
use crate::bus::{Audience, Event};
use crate::error::ApiError;
use crate::model::events::payload;
use crate::model::lead::{Lead, LeadStatus};
use crate::model::outbox::NewOutbox;
use crate::model::team::{AuditAction, Role};
use crate::team::Caller;

fn quote_not_found() -> ApiError {
    ApiError::NotFound {
        code: "quote_not_found",
        message: "no such quote".into(),
    }
}

impl Forms {
    /// Moves lead `id` to `status` (an editor's action, `by`): 404 for an
    /// unknown lead, 403 for a key that may not, 409 `illegal_transition` for a
    /// move the life of a lead does not allow (or that another change beat). The
    /// same status again changes nothing. The change is written with its outbox
    /// entry, published to the submitter's session as `lead.status`, and
    /// written to the audit log.
    pub(crate) async fn set_lead_status(
        &self,
        by: &Caller,
        id: &str,
        status: LeadStatus,
    ) -> Result<Lead, ApiError> {
        let id = Uuid::parse_str(id).map_err(|_| quote_not_found())?;
        let current = self
            .store
            .lead_by_id(id)
            .await?
            .ok_or_else(quote_not_found)?;
        by.require_in(Role::Editor, current.campaign_id)?;
        if current.status == status {
            return Ok(current);
        }
        let illegal = |from: LeadStatus| ApiError::Conflict {
            code: "illegal_transition",
            message: format!(
                "a {} quote cannot become {}",
                from.as_str(),
                status.as_str()
            ),
            field: Some("status".into()),
        };
        if !current.status.can_become(status) {
            return Err(illegal(current.status));
        }
        let campaign = self
            .store
            .campaign_by_id(current.campaign_id)
            .await?
            .ok_or_else(quote_not_found)?;
        let outbox = [NewOutbox::for_campaign(
            &campaign,
            "lead.status_changed",
            json!({
                "quote_id": current.id, "status": status, "previous": current.status,
                "name": current.name, "email": current.email,
            }),
        )];
        let updated = self
            .store
            .set_lead_status(id, current.status, status, &outbox)
            .await?
            .ok_or_else(|| illegal(current.status))?;
        let change = by.change(
            AuditAction::LeadStatus,
            Some(campaign.id),
            updated.id.to_string(),
            Some(json!({"status": current.status})),
            Some(json!({"status": updated.status})),
        );
        self.team.record(change).await;
        let team = payload::TeamLead {
            id: updated.id,
            status: updated.status,
            previous: Some(current.status),
            at: updated.updated_at,
        };
        self.publisher
            .publish(&campaign, Event::built_in(&team, Audience::Team))
            .await;
        if let Some(session) = updated.session_id {
            let status = payload::LeadStatus {
                quote_id: updated.id,
                status: updated.status,
            };
            let event = Event::built_in(&status, Audience::Session(session));
            self.publisher.publish(&campaign, event).await;
        }
        Ok(updated)
    }
}
