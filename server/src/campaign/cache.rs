//! Campaigns by slug, kept for a moment: every form post, event stream and
//! cursor session starts by loading its campaign, and a campaign changes
//! rarely. A change made through this instance is seen at once; one made
//! elsewhere (another instance, `campaigns apply`) within [`CAMPAIGN_TTL`].
//! While the database is down, a campaign loaded within [`STALE_LIMIT`] is
//! still served.

use parking_lot::Mutex;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::model::campaign::{Campaign, CampaignStatus, is_valid_slug};
use crate::store::{Store, StoreError};

/// How long a loaded campaign is served without asking the database again.
pub(crate) const CAMPAIGN_TTL: Duration = Duration::from_secs(1);
/// How long a loaded campaign is still served while the database is down.
pub(crate) const STALE_LIMIT: Duration = Duration::from_secs(15 * 60);

/// Recently loaded campaigns. Only campaigns that exist are kept, so unknown
/// slugs cannot grow it, and a new campaign is visible at once.
#[derive(Debug, Default)]
pub struct CampaignCache {
    loaded: Mutex<HashMap<String, (Instant, Campaign)>>,
    origins: Mutex<Option<(Instant, std::sync::Arc<Vec<String>>)>>,
}

impl CampaignCache {
    /// The campaign `slug` as a caller may see it: drafts only for the
    /// admin, webhook receivers never for the public; `None` otherwise.
    pub async fn visible(
        &self,
        store: &dyn Store,
        slug: &str,
        admin: bool,
    ) -> Result<Option<Campaign>, StoreError> {
        Ok(match self.by_slug(store, slug).await? {
            Some(c) if admin => Some(c),
            Some(c) if c.status != CampaignStatus::Draft => Some(c.public_view()),
            _ => None,
        })
    }

    /// The campaign `slug` (drafts included), from memory when loaded less
    /// than [`CAMPAIGN_TTL`] ago; `None` for an unknown or malformed slug.
    pub async fn by_slug(
        &self,
        store: &dyn Store,
        slug: &str,
    ) -> Result<Option<Campaign>, StoreError> {
        if !is_valid_slug(slug) {
            return Ok(None);
        }
        if let Some((at, campaign)) = self.loaded.lock().get(slug)
            && at.elapsed() < CAMPAIGN_TTL
        {
            return Ok(Some(campaign.clone()));
        }
        let found = match store.campaign_by_slug(slug).await {
            Ok(found) => found,
            // The database is down: what was loaded lately still serves
            // (pages stay up, events and cursors go on), for a bounded time.
            Err(StoreError::Unavailable(cause)) => match self.loaded.lock().get(slug) {
                Some((at, campaign)) if at.elapsed() < STALE_LIMIT => {
                    return Ok(Some(campaign.clone()));
                }
                _ => return Err(StoreError::Unavailable(cause)),
            },
            Err(other) => return Err(other),
        };
        let mut loaded = self.loaded.lock();
        match &found {
            Some(campaign) => {
                loaded.insert(slug.to_owned(), (Instant::now(), campaign.clone()));
            }
            None => {
                loaded.remove(slug);
            }
        }
        Ok(found)
    }

    /// Every origin some campaign allows (`config.origins`), loaded at most
    /// every [`CAMPAIGN_TTL`]: what a request can be checked against before
    /// its campaign is known (a CORS preflight has no body).
    pub async fn all_origins(
        &self,
        store: &dyn Store,
    ) -> Result<std::sync::Arc<Vec<String>>, StoreError> {
        if let Some((at, origins)) = &*self.origins.lock()
            && at.elapsed() < CAMPAIGN_TTL
        {
            return Ok(origins.clone());
        }
        let mut origins = Vec::new();
        let mut offset = 0;
        loop {
            let page = match store
                .list_campaigns(crate::store::Page { limit: 500, offset })
                .await
            {
                Ok(page) => page,
                // The database is down: the origins known last still hold.
                Err(StoreError::Unavailable(cause)) => {
                    return match &*self.origins.lock() {
                        Some((_, known)) => Ok(known.clone()),
                        None => Err(StoreError::Unavailable(cause)),
                    };
                }
                Err(other) => return Err(other),
            };
            let done = page.len() < 500;
            for campaign in page {
                origins.extend(campaign.config.origins);
            }
            if done {
                break;
            }
            offset += 500;
        }
        origins.sort();
        origins.dedup();
        let origins = std::sync::Arc::new(origins);
        *self.origins.lock() = Some((Instant::now(), origins.clone()));
        Ok(origins)
    }

    /// Forgets `slug`, after this instance changed it.
    pub fn forget(&self, slug: &str) {
        self.loaded.lock().remove(slug);
        *self.origins.lock() = None;
    }
}
