//! Splits and dividends: the events that make a price series jump unless it is adjusted.

use chrono::NaiveDate;
use serde::Serialize;

/// What happened on an ex-date.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum CorporateActionKind {
    /// `ratio` new shares for each old share: 4.0 for a 4:1 split, 0.1 for a 1:10 reverse split.
    Split { ratio: f64 },
    /// Cash paid per share.
    Dividend { cash: f64 },
}

/// A split or dividend of one symbol, keyed by its ex-date (the first day that trades without it).
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct CorporateAction {
    pub ex_date: NaiveDate,
    #[serde(flatten)]
    pub kind: CorporateActionKind,
}

/// A corporate action as the store keeps it: with the provider that reported it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RecordedAction {
    #[serde(flatten)]
    pub action: CorporateAction,
    pub provider: String,
}

impl CorporateAction {
    /// The split ratio, if this action is a split with a usable (finite, positive) ratio.
    pub fn split_ratio(&self) -> Option<f64> {
        match self.kind {
            CorporateActionKind::Split { ratio } if ratio.is_finite() && ratio > 0.0 => Some(ratio),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_sane_splits_have_a_ratio() {
        let date = NaiveDate::from_ymd_opt(2020, 8, 31).expect("valid date");
        let split = |ratio| CorporateAction {
            ex_date: date,
            kind: CorporateActionKind::Split { ratio },
        };
        assert_eq!(split(4.0).split_ratio(), Some(4.0));
        assert_eq!(split(0.0).split_ratio(), None);
        assert_eq!(split(f64::NAN).split_ratio(), None);
        let dividend = CorporateAction {
            ex_date: date,
            kind: CorporateActionKind::Dividend { cash: 0.205 },
        };
        assert_eq!(dividend.split_ratio(), None);
    }
}
