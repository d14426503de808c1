//! Which event time to trust. Meta's timestamp orders consent ("the last word
//! wins"), opens the 24-hour window and dates retention, so an impossible one
//! must not freeze consent (year 9999) or date history to 1970.

/// How far ahead of our clock Meta's timestamp may be (5 minutes): clocks
/// differ by seconds, never by more; beyond it the time is not trusted.
pub const MAX_FUTURE_SKEW_MS: i64 = 5 * 60_000;

/// Nothing happened on Messenger before it launched (2011-08-09 00:00 UTC);
/// an earlier timestamp is not trusted.
pub const EARLIEST_EVENT_MS: i64 = 1_312_848_000_000;

/// An event's trusted time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventTime {
    /// Milliseconds since the epoch.
    pub ms: i64,
    /// `ms` is the time of receipt standing in for a missing or impossible
    /// timestamp: the event was sent no later than it, and no earlier than
    /// Meta's retry horizon before it ([`crate::lead::META_RETRY_HORIZON_MS`]).
    pub clamped: bool,
}

impl EventTime {
    /// Meta's timestamp (already in ms) if it lies between Messenger's launch
    /// and `received_at_ms` + [`MAX_FUTURE_SKEW_MS`], capped at the time of
    /// receipt (nothing happened after it reached us: a START stamped a few
    /// minutes ahead must not outrank the STOP sent after it); otherwise the
    /// time of receipt, marked clamped.
    pub fn trusted(meta_ms: Option<i64>, received_at_ms: i64) -> Self {
        match meta_ms {
            Some(ms) if (EARLIEST_EVENT_MS..=received_at_ms.saturating_add(MAX_FUTURE_SKEW_MS)).contains(&ms) => Self {
                ms: ms.min(received_at_ms),
                clamped: false,
            },
            _ => Self {
                ms: received_at_ms,
                clamped: true,
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_547_200_000;

    #[test]
    fn real_times_are_kept_and_impossible_ones_become_the_time_of_receipt() {
        assert_eq!(
            EventTime::trusted(Some(NOW - 1000), NOW),
            EventTime {
                ms: NOW - 1000,
                clamped: false
            }
        );
        assert_eq!(
            EventTime::trusted(Some(NOW + MAX_FUTURE_SKEW_MS), NOW),
            EventTime {
                ms: NOW,
                clamped: false
            },
            "a little ahead is real, but never after its receipt"
        );
        for bad in [
            Some(NOW + MAX_FUTURE_SKEW_MS + 1),
            Some(253_402_300_799_000),
            Some(1000),
            None,
        ] {
            assert_eq!(
                EventTime::trusted(bad, NOW),
                EventTime { ms: NOW, clamped: true },
                "{bad:?}"
            );
        }
    }
}
