//! A campaign's referral fraud review (`config.referrals`): whether
//! referrals that raise a signal are flagged for the team's review, and
//! how many referrals an hour one referrer makes before that is a signal.

use serde::{Deserialize, Serialize};

use super::ValidationError;

/// Most referrals an hour a campaign may allow one referrer before flagging.
pub(crate) const MAX_PER_HOUR_LIMIT: u32 = 100_000;

/// What the campaign does with a referral that raises a signal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FraudMode {
    /// No checks: every referral counts.
    Off,
    /// Flag it: it counts nowhere public until the team approves it (the default).
    #[default]
    Flag,
    /// Flag it, and refuse joins from disposable email domains (422
    /// `disposable_email`).
    Strict,
}

/// `config.referrals`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReferralSettings {
    /// `off`, `flag` (the default) or `strict`.
    pub fraud: FraudMode,
    /// Referrals one referrer makes in an hour before the next ones are
    /// flagged (`too_many`); 10 by default.
    pub max_per_hour: u32,
}

impl Default for ReferralSettings {
    fn default() -> Self {
        Self {
            fraud: FraudMode::Flag,
            max_per_hour: 10,
        }
    }
}

impl ReferralSettings {
    /// Checks the bounds.
    pub(crate) fn validate(&self) -> Result<(), ValidationError> {
        if !(1..=MAX_PER_HOUR_LIMIT).contains(&self.max_per_hour) {
            return Err(ValidationError::new(
                "config.referrals.max_per_hour",
                format!("must be between 1 and {MAX_PER_HOUR_LIMIT}"),
            ));
        }
        Ok(())
    }
}
