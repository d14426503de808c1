//! What a broadcast did: its outcomes, rates and per-minute series (added to
//! `GET /v1/broadcasts/<id>`), and one recipient's record
//! (`GET /v1/broadcasts/<id>/recipients/<psid>`: sent, with its message id
//! and receipt times, or why it was skipped).

use optcast_shared::access::Caller;
use optcast_shared::broadcast::{Broadcast, BroadcastState};
use optcast_shared::ids::Psid;
use optcast_shared::outcomes::{Outcomes, Protection};
use serde_json::{json, Value};

use super::{bad, Api, ApiError};

/// A page's protection thresholds as the API shows them.
pub(crate) fn protection_json(p: &Protection) -> Value {
    json!({"max_negative_rate": p.max_negative_rate, "min_sends": p.min_sends})
}

/// Adds `outcomes` (counts, rates against `sent`, Meta's errors by code) and
/// `timeseries` (one point per minute in which something happened) to a
/// broadcast's JSON. The series is in the same answer because it comes from
/// the same single read as the counts: a second route would read it all again.
pub(crate) fn add_outcomes_json(b: &Broadcast, v: &mut Value) {
    let o = &b.outcomes;
    let sent = b.counts.sent;
    let rate = |n: i64| Outcomes::rate(n, sent);
    v["outcomes"] = json!({
        "delivered": o.delivered,
        "read": o.read,
        "unsubscribed": o.unsubscribed,
        "blocked": o.blocked,
        "rates": {
            "delivered": rate(o.delivered),
            "read": rate(o.read),
            "unsubscribed": rate(o.unsubscribed),
            "blocked": rate(o.blocked),
            "negative": rate(o.unsubscribed + o.blocked),
        },
        "meta_errors": o.meta_errors,
    });
    let points: Vec<Value> = o
        .series
        .iter()
        .map(|(minute, p)| {
            json!({
                "at_ms": minute * 60_000,
                "sent": p.sent,
                "delivered": p.delivered,
                "read": p.read,
                "unsubscribed": p.unsubscribed,
            })
        })
        .collect();
    v["timeseries"] = json!({"bucket_ms": 60_000, "points": points});
    v["protection_baseline"] = match &b.protection_baseline {
        Some(base) => json!({
            "resumed_at_ms": base.resumed_at_ms,
            "sent": base.counts.sent,
            "unsubscribed": base.counts.unsubscribed,
            "blocked": base.counts.blocked,
        }),
        None => Value::Null,
    };
}

impl Api {
    /// `GET /v1/broadcasts/<id>/recipients/<psid>`: what the sender recorded
    /// for this lead, or `parked` while its job waits for a resume. Nothing
    /// recorded: 404 `not_in_audience` once the broadcast is done (no send
    /// was planned for them: not a subscribed lead matching the audience
    /// tags at planning), else 404 `not_recorded` (its job may still be
    /// queued or unplanned, or was dropped by a cancel).
    pub(crate) async fn recipient(&self, caller: &Caller, id: &str, psid: &str) -> Result<(u16, Value), ApiError> {
        let psid = Psid::parse(psid).map_err(|e| bad("invalid_psid", e.to_string()))?;
        let b = self.visible_broadcast(caller, id).await?;
        let Some(r) = self.broadcasts.recipient(&b.id, &b.page_id, &psid).await? else {
            return Err(match b.state {
                BroadcastState::Done => ApiError::NotInAudience,
                state => ApiError::NotRecorded(state.as_str()),
            });
        };
        Ok((
            200,
            json!({
                "broadcast_id": b.id.as_str(),
                "psid": psid.as_str(),
                "state": r.state.as_str(),
                "reason": r.reason,
                "recorded_at_ms": r.at_ms,
                "mid": r.message_id,
                "sent_at_ms": r.sent_at_ms,
                "delivered_at_ms": r.delivered_at_ms,
                "read_at_ms": r.read_at_ms,
                "unsubscribed_at_ms": r.unsubscribed_at_ms,
            }),
        ))
    }
}
