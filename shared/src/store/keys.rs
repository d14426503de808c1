//! Every key format and index name of the DynamoDB schema, in one place:
//! partition and sort keys, sparse-index keys and shards. All keys start
//! with the page (`PAGE#<page>…`) or the broadcast (`BCAST#<id>…`).

use sha2::{Digest, Sha256};

use crate::ids::{BroadcastId, PageId, Psid};

/// Audience index partitions per page: lets a planner read a page's
/// subscribed leads in parallel without a hot partition.
pub const AUDIENCE_SHARDS: u32 = 16;
pub const AUDIENCE_INDEX: &str = "audience";
/// Partitions per page of the `by_age` indexes the retention sweep reads.
pub const AGE_SHARDS: u32 = 4;
pub const AGE_INDEX: &str = "by_age";
/// Sparse index of unsubscribed leads by when they unsubscribed (the purge).
pub const UNSUBSCRIBED_INDEX: &str = "unsubscribed";
/// Sparse: only unreachable leads, by when they became so (the purge).
pub const UNREACHABLE_INDEX: &str = "unreachable";
/// Sparse index of scheduled broadcasts by `send_at_ms` (keys only).
pub const DUE_INDEX: &str = "due";
/// The one partition of the `due` index.
pub(crate) const DUE_PK: &str = "DUE";
/// The deliveries index by subject (erasure and export).
pub const SUBJECT_INDEX: &str = "by_subject";

pub fn subscriber_pk(page: &PageId) -> String {
    format!("PAGE#{page}")
}
pub fn subscriber_sk(psid: &Psid) -> String {
    format!("SUB#{psid}")
}
pub fn subject_pk(page: &PageId, psid: &Psid) -> String {
    format!("PAGE#{page}#SUB#{psid}")
}
/// The processed-event marker of `key` from `subject` on `page`. The
/// subject appears only as a digest prefix (no PSID in the events table).
pub fn event_pk(page: &PageId, subject: Option<&Psid>, key: &str) -> String {
    match subject {
        Some(psid) => format!(
            "EVENT#{page}#{}#{key}",
            &crate::crypto::subject_digest(page, psid)[..32]
        ),
        None => format!("EVENT#{page}#-#{key}"),
    }
}
pub fn audience_shard(psid: &Psid) -> u32 {
    let d = Sha256::digest(psid.as_str().as_bytes());
    u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % AUDIENCE_SHARDS
}
pub fn audience_pk(page: &PageId, shard: u32) -> String {
    format!("PAGE#{page}#SHARD#{shard}")
}
/// The `by_age` partition of a record: its page and a shard of its key.
pub fn age_pk(page: &PageId, record_key: &str) -> String {
    let d = Sha256::digest(record_key.as_bytes());
    format!(
        "PAGE#{page}#AGE#{}",
        u32::from_be_bytes([d[0], d[1], d[2], d[3]]) % AGE_SHARDS
    )
}
pub fn unsubscribed_pk(page: &PageId) -> String {
    format!("PAGE#{page}#UNSUB")
}
/// The `unreachable` index partition of a page's leads Meta said cannot be
/// reached, by when (the purge's other index).
pub fn unreachable_pk(page: &PageId) -> String {
    format!("PAGE#{page}#UNREACHABLE")
}
/// Where a subject's erasure tombstone lives in the consent log: keyed by a
/// digest, so proof survives without the PSID.
pub fn tombstone_pk(page: &PageId, psid: &Psid) -> String {
    tombstone_pk_of(page, &crate::crypto::subject_digest(page, psid))
}
/// [`tombstone_pk`] of a subject named by `pseudonym` (any key's).
pub fn tombstone_pk_of(page: &PageId, pseudonym: &str) -> String {
    format!("PAGE#{page}#GONE#{pseudonym}")
}

/// Lanes per broadcast: a lead's lane is its audience shard.
pub const SEND_LANES: u32 = AUDIENCE_SHARDS;

pub(crate) fn broadcast_pk(id: &BroadcastId) -> String {
    format!("BCAST#{id}")
}

pub(crate) fn lane_pk(id: &BroadcastId, lane: u32) -> String {
    format!("BCAST#{id}#LANE#{lane}")
}

/// A shard's planned page, between its checkpoint and its send
/// (`store::planned`).
pub(crate) fn planned_pk(id: &BroadcastId, shard: u32) -> String {
    format!("BCAST#{id}#PLANNED#{shard}")
}

/// A broadcast's outcome counters for one lane (delivered, read,
/// unsubscribed and their series), written by ingest only.
pub(crate) fn outcome_pk(id: &BroadcastId, lane: u32) -> String {
    format!("BCAST#{id}#OUT#{lane}")
}

/// Index of a page's broadcast definitions, newest first (`page_pk`,
/// `created_sk`; lanes carry neither, so it holds definitions only).
pub const BY_PAGE_INDEX: &str = "by_page";

/// A broadcast definition's partition in the `by_page` index.
pub(crate) fn broadcast_page_pk(page: &PageId) -> String {
    format!("PAGE#{page}")
}

/// A broadcast definition's sort key in the `by_page` index: creation time
/// (13 digits, ms) then id, so equal times still sort and stay distinct.
pub(crate) fn broadcast_created_sk(created_at_ms: i64, id: &BroadcastId) -> String {
    format!("{:013}#{id}", created_at_ms.max(0))
}

/// A parked send job's sort key (deliveries table, in the broadcast's
/// partition, apart from the `SUB#` deliveries): by lane, so the planner of
/// one audience shard sends that shard's parked jobs again on resume.
pub(crate) fn parked_sk(lane: u32, psid: &Psid) -> String {
    format!("{}{psid}", parked_prefix(lane))
}
/// The prefix of every parked job's sort key of `lane`.
pub(crate) fn parked_prefix(lane: u32) -> String {
    format!("{PARKED_SK_PREFIX}{lane}#")
}
/// The prefix of every parked job's sort key, of any lane.
pub(crate) const PARKED_SK_PREFIX: &str = "PARK#";

/// A delivery's sort key (in the broadcast's partition).
pub(crate) fn delivery_sk(psid: &Psid) -> String {
    delivery_sk_of(psid.as_str())
}
/// A delivery's sort key by recipient: a PSID, or `~<digest>` for a lead
/// erased since planning.
pub(crate) fn delivery_sk_of(recipient: &str) -> String {
    format!("SUB#{recipient}")
}
/// The recipient a delivery of a lead erased before (or while) the sender
/// reached them is recorded under: `~<digest>`, no PSID.
pub(crate) fn erased_recipient(page: &PageId, psid: &Psid) -> String {
    format!("~{}", crate::crypto::subject_digest(page, psid))
}

/// A page's item in the pages table.
pub(crate) fn page_pk(page: &PageId) -> String {
    format!("PAGE#{page}")
}

/// A `by_age` partition by its shard number (the sweep reads each in turn).
pub(crate) fn age_shard_pk(page: &PageId, shard: u32) -> String {
    format!("PAGE#{page}#AGE#{shard}")
}

/// Where the sweep keeps its place in one `by_age` partition of a category
/// (privacy table).
pub(crate) fn sweep_checkpoint_pk(category: crate::retention::Category, page: &PageId, shard: u32) -> String {
    format!("SWEEP#{}#PAGE#{page}#AGE#{shard}", category.as_str())
}

/// An erasure request's item in the privacy table.
pub(crate) fn erasure_request_pk(id: &str) -> String {
    format!("ERASURE#{id}")
}

/// An audit entry's item in the privacy table: its time and a random part.
pub(crate) fn audit_pk(at_ms: i64, random: &str) -> String {
    format!("AUDIT#{at_ms}#{random}")
}

/// The sort key of a consent-log entry: its time (13 digits) and event key.
pub(crate) fn consent_sk(at_ms: i64, event_key: &str) -> String {
    format!("{:013}#{event_key}", at_ms.max(0))
}

/// The sort key below which a subject's consent records are dated before
/// `at_ms` (their keys sort by time: [`consent_sk`]).
pub(crate) fn consent_dated_before(at_ms: i64) -> String {
    consent_sk(at_ms, "")
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;

    #[test]
    fn audience_shards_spread_and_stay_in_range() {
        let shards: BTreeSet<u32> = (0..500)
            .map(|i| audience_shard(&Psid::parse(format!("20000000000{i:05}")).unwrap()))
            .collect();
        assert!(shards.iter().all(|s| *s < AUDIENCE_SHARDS));
        assert_eq!(shards.len() as u32, AUDIENCE_SHARDS);
    }
}
