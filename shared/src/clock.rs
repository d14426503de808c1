//! "Now" for scheduled functions. EventBridge stamps each invocation with its
//! scheduled `time`, and the scheduler and sweeper act as of that time (so a
//! late run still covers its own minute). An invocation is input like any
//! other, though: one dated 2100 would make the sweeper delete every message.
//! So the event's time is trusted only up to the real clock plus
//! [`MAX_INVOCATION_SKEW_MS`].

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

/// How far ahead of the real clock an invocation's time may be (ms): five
/// minutes, the same skew allowed to Meta's event timestamps.
pub const MAX_INVOCATION_SKEW_MS: i64 = 5 * 60 * 1000;

/// The system clock, plus an offset that only code can set (the local stack
/// uses it to run a test "days later"; it is never read from configuration).
/// Clones share the offset.
#[derive(Clone, Debug, Default)]
pub struct Clock {
    offset_ms: Arc<AtomicI64>,
}

impl Clock {
    /// The real clock.
    pub fn system() -> Self {
        Self::default()
    }

    /// Milliseconds since the Unix epoch.
    pub fn now_ms(&self) -> i64 {
        crate::http::now_ms() + self.offset_ms.load(Ordering::Relaxed)
    }

    /// Moves this clock (and its clones) so that it reads `at_ms` now.
    pub fn set_now_ms(&self, at_ms: i64) {
        self.offset_ms.store(at_ms - crate::http::now_ms(), Ordering::Relaxed);
    }

    /// The "now" an invocation dated `event_time_ms` acts as of: that time,
    /// capped at this clock plus [`MAX_INVOCATION_SKEW_MS`]; this clock when
    /// the event has no time.
    pub fn invocation_now_ms(&self, event_time_ms: Option<i64>) -> i64 {
        cap_invocation_time(event_time_ms, self.now_ms())
    }
}

/// [`Clock::invocation_now_ms`] with the clock's reading given.
pub fn cap_invocation_time(event_time_ms: Option<i64>, clock_ms: i64) -> i64 {
    let latest = clock_ms.saturating_add(MAX_INVOCATION_SKEW_MS);
    event_time_ms.map_or(clock_ms, |t| t.min(latest))
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_764_547_200_000;

    #[test]
    fn an_invocation_from_the_future_acts_as_of_the_clock_plus_skew() {
        let year_2100 = 4_102_444_800_000;
        assert_eq!(cap_invocation_time(Some(year_2100), NOW), NOW + MAX_INVOCATION_SKEW_MS);
        assert_eq!(cap_invocation_time(Some(i64::MAX), i64::MAX - 1), i64::MAX);
    }

    #[test]
    fn a_scheduled_time_at_or_before_the_clock_is_kept() {
        assert_eq!(cap_invocation_time(Some(NOW - 60_000), NOW), NOW - 60_000);
        assert_eq!(cap_invocation_time(Some(NOW + 1_000), NOW), NOW + 1_000);
        assert_eq!(cap_invocation_time(None, NOW), NOW);
    }

    #[test]
    fn clones_share_a_moved_clock() {
        let clock = Clock::system();
        let copy = clock.clone();
        clock.set_now_ms(NOW + 40 * 86_400_000);
        assert!((copy.now_ms() - (NOW + 40 * 86_400_000)).abs() < 60_000);
        let capped = copy.invocation_now_ms(Some(i64::MAX)) - MAX_INVOCATION_SKEW_MS;
        assert!((capped - (NOW + 40 * 86_400_000)).abs() < 60_000);
    }
}
