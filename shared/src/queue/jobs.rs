//! The broadcast and erasure queues' contracts: one tagged, versioned serde
//! enum per queue (the ingest queue's, with its claim check, is in the
//! parent module).

use serde::{Deserialize, Serialize};

/// The plan queue's contract: plan one audience shard of a broadcast,
/// resuming from its stored checkpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum PlanJob {
    #[serde(rename = "plan.v1")]
    PlanV1 {
        broadcast_id: crate::ids::BroadcastId,
        shard: u32,
    },
}

/// The send queue's contract: one lead, one broadcast.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum SendJob {
    #[serde(rename = "send.v1")]
    SendV1(SendTask),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SendTask {
    pub broadcast_id: crate::ids::BroadcastId,
    pub page_id: crate::ids::PageId,
    pub psid: crate::ids::Psid,
    /// What the audience index said at planning time; the sender re-checks
    /// consent atomically before sending.
    pub lead: crate::broadcast::LeadSnapshot,
}

/// The erasure queue's contract: erase one subject, or everyone an
/// app-scoped id (Meta's data-deletion callback) maps to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type")]
pub enum ErasureJob {
    #[serde(rename = "erasure.v1")]
    ErasureV1 {
        request_id: String,
        target: ErasureTarget,
        /// Data was held (set by earlier versions, whose API shredded before
        /// queueing; the eraser now reads the same from the tombstone).
        #[serde(default)]
        found_before: bool,
        /// Set by a retention purge that shredded the subject at this time
        /// (ms, our clock) and hands over what it could not finish: the
        /// eraser does not shred again (a subscriber found now is the person
        /// writing again since, a new lead) and erases only what is dated up
        /// to it (messages and consent records by their time, raw
        /// copies and quarantined items by their receipt). `None`: an erasure
        /// request, which erases everything of the subject.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        shredded_at_ms: Option<i64>,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErasureTarget {
    Subject {
        page_id: crate::ids::PageId,
        psid: crate::ids::Psid,
    },
    AppScopedUser {
        asid: String,
    },
}
