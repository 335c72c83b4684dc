//! `Quotes`, `Campaigns` and `Events`: the REST admin API's operations over
//! gRPC, through the same services and with the same errors.

use std::sync::Arc;

use chrono::{DateTime, Utc};
use tonic::{Request, Response, Status};

use super::proto::campaigns_server::Campaigns;
use super::proto::events_server::Events;
use super::proto::quotes_server::Quotes;
use super::proto::{
    Campaign as CampaignMessage, CampaignMetrics, CampaignRequest, CreateCampaignRequest,
    GetQuoteRequest, ListCampaignsRequest, ListCampaignsResponse, ListQuotesRequest,
    ListQuotesResponse, PublishRequest, PublishResponse, Quote, UpdateCampaignRequest,
    UpdateStatusRequest,
};
use super::{caller, invalid, status};
use crate::error::ApiError;
use crate::model::campaign::{
    Campaign, CampaignConfig, CampaignPatch, CampaignStatus, DatePatch, NewCampaign,
};
use crate::model::lead::{Lead, LeadStatus};
use crate::model::team::Role;
use crate::state::AppState;
use crate::store::Page;
use crate::team::Caller;

/// The services over one state.
#[derive(Clone)]
pub(crate) struct Api(pub Arc<AppState>);

fn time(at: Option<DateTime<Utc>>) -> String {
    at.map(|t| t.to_rfc3339()).unwrap_or_default()
}

fn quote(lead: Lead) -> Quote {
    Quote {
        id: lead.id.to_string(),
        campaign_id: lead.campaign_id,
        status: lead.status.as_str().to_owned(),
        name: lead.name,
        email: lead.email,
        company: lead.company.unwrap_or_default(),
        phone: lead.phone.unwrap_or_default(),
        message: lead.message,
        budget: lead.budget.unwrap_or_default(),
        details_json: serde_json::Value::Object(lead.details).to_string(),
        master_id: lead.master_id.map(|id| id.to_string()).unwrap_or_default(),
        created_at: lead.created_at.to_rfc3339(),
        updated_at: lead.updated_at.to_rfc3339(),
    }
}

fn campaign(c: Campaign) -> CampaignMessage {
    CampaignMessage {
        id: c.id,
        config_json: serde_json::to_string(&c.config.team_view()).unwrap_or_default(),
        slug: c.slug,
        name: c.name,
        status: c.status.as_str().to_owned(),
        starts_at: time(c.starts_at),
        ends_at: time(c.ends_at),
        created_at: c.created_at.to_rfc3339(),
        updated_at: c.updated_at.to_rfc3339(),
    }
}

fn lead_status(raw: &str) -> Result<LeadStatus, Status> {
    LeadStatus::parse(raw)
        .ok_or_else(|| invalid("status", "must be new, in_review, contacted, won or lost"))
}

fn campaign_status(raw: &str) -> Result<CampaignStatus, Status> {
    CampaignStatus::parse(raw)
        .ok_or_else(|| invalid("status", "must be draft, active, paused or ended"))
}

fn date(field: &str, raw: &str) -> Result<DateTime<Utc>, Status> {
    crate::request::rfc3339(field, raw).map_err(status)
}

fn config(raw: &str) -> Result<CampaignConfig, Status> {
    if raw.trim().is_empty() {
        return Ok(CampaignConfig::default());
    }
    let mut reader = serde_json::Deserializer::from_str(raw);
    serde_path_to_error::deserialize(&mut reader).map_err(|e| {
        let path = e.path().to_string();
        let field = if path == "." {
            "config".to_owned()
        } else {
            format!("config.{path}")
        };
        invalid(&field, e.inner().to_string())
    })
}

fn page(limit: u32, offset: u32) -> Result<Page, Status> {
    if limit > crate::request::MAX_PAGE {
        return Err(invalid(
            "limit",
            format!("must be at most {}", crate::request::MAX_PAGE),
        ));
    }
    Ok(Page {
        limit: if limit == 0 { 100 } else { limit },
        offset,
    })
}

impl Api {
    /// The campaign `slug` (drafts included) when `by` may see it.
    async fn campaign_named(&self, by: &Caller, slug: &str) -> Result<Campaign, Status> {
        let campaign = self
            .0
            .forms
            .visible_campaign(slug, true)
            .await
            .map_err(status)?;
        by.in_scope(campaign.id).map_err(status)?;
        Ok(campaign)
    }
}

fn store_error(e: crate::store::StoreError) -> Status {
    status(e.into())
}

#[tonic::async_trait]
impl Quotes for Api {
    async fn list(
        &self,
        request: Request<ListQuotesRequest>,
    ) -> Result<Response<ListQuotesResponse>, Status> {
        let by = caller(&self.0, &request, Role::Viewer).await?;
        let request = request.into_inner();
        let campaign = self.campaign_named(&by, &request.campaign).await?;
        let status_filter = if request.status.is_empty() {
            None
        } else {
            Some(lead_status(&request.status)?)
        };
        let leads = self
            .0
            .store
            .list_leads(
                campaign.id,
                status_filter,
                page(request.limit, request.offset)?,
            )
            .await
            .map_err(store_error)?;
        Ok(Response::new(ListQuotesResponse {
            quotes: leads.into_iter().map(quote).collect(),
        }))
    }

    async fn get(&self, request: Request<GetQuoteRequest>) -> Result<Response<Quote>, Status> {
        let not_found = || {
            status(ApiError::NotFound {
                code: "quote_not_found",
                message: "no such quote".into(),
            })
        };
        let by = caller(&self.0, &request, Role::Viewer).await?;
        let id = uuid::Uuid::parse_str(&request.into_inner().id).map_err(|_| not_found())?;
        let lead = self
            .0
            .store
            .lead_by_id(id)
            .await
            .map_err(store_error)?
            .filter(|lead| by.sees(lead.campaign_id))
            .ok_or_else(not_found)?;
        Ok(Response::new(quote(lead)))
    }

    async fn update_status(
        &self,
        request: Request<UpdateStatusRequest>,
    ) -> Result<Response<Quote>, Status> {
        let by = caller(&self.0, &request, Role::Editor).await?;
        let request = request.into_inner();
        let to = lead_status(&request.status)?;
        let state = self.0.clone();
        let lead = self
            .0
            .team
            .carried(async move { state.forms.set_lead_status(&by, &request.id, to).await })
            .await
            .map_err(status)?;
        Ok(Response::new(quote(lead)))
    }
}

#[tonic::async_trait]
impl Campaigns for Api {
    async fn get(
        &self,
        request: Request<CampaignRequest>,
    ) -> Result<Response<CampaignMessage>, Status> {
        let by = caller(&self.0, &request, Role::Viewer).await?;
        let found = self.campaign_named(&by, &request.into_inner().slug).await?;
        Ok(Response::new(campaign(found)))
    }

    async fn list(
        &self,
        request: Request<ListCampaignsRequest>,
    ) -> Result<Response<ListCampaignsResponse>, Status> {
        let by = caller(&self.0, &request, Role::Viewer).await?;
        let request = request.into_inner();
        let campaigns = self
            .0
            .store
            .list_campaigns(page(request.limit, request.offset)?)
            .await
            .map_err(store_error)?
            .into_iter()
            .filter(|c| by.sees(c.id))
            .collect::<Vec<_>>();
        Ok(Response::new(ListCampaignsResponse {
            campaigns: campaigns.into_iter().map(campaign).collect(),
        }))
    }

    async fn create(
        &self,
        request: Request<CreateCampaignRequest>,
    ) -> Result<Response<CampaignMessage>, Status> {
        let by = caller(&self.0, &request, Role::Owner).await?;
        let request = request.into_inner();
        let spec = NewCampaign {
            slug: request.slug,
            name: request.name,
            status: if request.status.is_empty() {
                CampaignStatus::Draft
            } else {
                campaign_status(&request.status)?
            },
            starts_at: request
                .starts_at
                .as_deref()
                .map(|t| date("starts_at", t))
                .transpose()?,
            ends_at: request
                .ends_at
                .as_deref()
                .map(|t| date("ends_at", t))
                .transpose()?,
            config: config(&request.config_json)?,
        };
        let state = self.0.clone();
        let created = self
            .0
            .team
            .carried(async move { state.forms.create_campaign(&by, spec).await })
            .await
            .map_err(status)?;
        Ok(Response::new(campaign(created)))
    }

    async fn update(
        &self,
        request: Request<UpdateCampaignRequest>,
    ) -> Result<Response<CampaignMessage>, Status> {
        let by = caller(&self.0, &request, Role::Editor).await?;
        let request = request.into_inner();
        let date_patch = |field: &str, raw: Option<String>| match raw.as_deref() {
            None => Ok(DatePatch::Keep),
            Some("") => Ok(DatePatch::Clear),
            Some(t) => date(field, t).map(DatePatch::Set),
        };
        let patch = CampaignPatch {
            name: request.name,
            status: request.status.as_deref().map(campaign_status).transpose()?,
            starts_at: date_patch("starts_at", request.starts_at)?,
            ends_at: date_patch("ends_at", request.ends_at)?,
            config: request.config_json.as_deref().map(config).transpose()?,
        };
        let state = self.0.clone();
        let updated = self
            .0
            .team
            .carried(async move { state.forms.update_campaign(&by, &request.slug, patch).await })
            .await
            .map_err(status)?;
        Ok(Response::new(campaign(updated)))
    }

    async fn metrics(
        &self,
        request: Request<CampaignRequest>,
    ) -> Result<Response<CampaignMetrics>, Status> {
        let by = caller(&self.0, &request, Role::Viewer).await?;
        let found = self.campaign_named(&by, &request.into_inner().slug).await?;
        let counts = self
            .0
            .store
            .campaign_counts(found.id)
            .await
            .map_err(store_error)?;
        let active = self
            .0
            .presence
            .active(&found.slug)
            .await
            .map_err(|e| status(ApiError::Internal(e)))?;
        Ok(Response::new(CampaignMetrics {
            active,
            users: counts.users,
            leads: counts.leads,
            referrals: counts.referrals,
        }))
    }
}

#[tonic::async_trait]
impl Events for Api {
    async fn publish(
        &self,
        request: Request<PublishRequest>,
    ) -> Result<Response<PublishResponse>, Status> {
        let by = caller(&self.0, &request, Role::Editor).await?;
        let request = request.into_inner();
        let found = self.campaign_named(&by, &request.campaign).await?;
        let data = if request.data_json.trim().is_empty() {
            serde_json::Map::new()
        } else {
            match serde_json::from_str::<serde_json::Value>(&request.data_json) {
                Ok(serde_json::Value::Object(map)) => map,
                _ => return Err(invalid("data_json", "must be a JSON object")),
            }
        };
        let recipient = request
            .recipient
            .as_deref()
            .map(|raw| {
                uuid::Uuid::parse_str(raw)
                    .map_err(|_| invalid("recipient", "must be a session id (a UUID)"))
            })
            .transpose()?;
        let event = crate::live::custom::CustomEvent {
            kind: request.r#type,
            data,
            recipient,
        };
        let id = self
            .0
            .live
            .publish_custom(&found, event)
            .await
            .map_err(status)?;
        Ok(Response::new(PublishResponse { id: id.to_string() }))
    }
}
