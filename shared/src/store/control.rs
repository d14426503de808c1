//! A marketer's control of broadcasts: a page's broadcasts listed newest
//! first (`by_page` index) and resume (pause's parked jobs: `parked.rs`).

use super::broadcasts::broadcast_from_item;
use super::item::{n, s, Item};
use super::keys::{broadcast_page_pk, BY_PAGE_INDEX, DUE_PK};
use super::{BroadcastStore, Cursor, StoreError};
use crate::broadcast::{Broadcast, BroadcastState};
use crate::ids::{BroadcastId, PageId};
use crate::outcomes::ProtectionBaseline;

/// Query pages one listing call reads at most before it answers with what
/// it found and a cursor (a state filter can skip many broadcasts).
const MAX_LIST_READS: usize = 10;

/// One page of a page's broadcasts, newest first.
#[derive(Debug, Clone)]
pub struct BroadcastList {
    /// Definitions only: `counts` holds `queued` alone (the outcome counts
    /// live on the lanes; `BroadcastStore::broadcast` sums them).
    pub broadcasts: Vec<Broadcast>,
    /// Where the next page starts; `None` at the end.
    pub next: Option<Cursor>,
}

impl BroadcastStore {
    /// Up to `limit` broadcasts of `page`, newest first, in `state` if given,
    /// after `cursor` (from [`BroadcastList::next`]).
    ///
    /// # Errors
    /// [`StoreError::Corrupt`]`("cursor")` when the cursor is not one of this
    /// page's listing; [`StoreError::Dynamo`] when a query fails.
    pub async fn page_broadcasts(
        &self,
        page: &PageId,
        state: Option<BroadcastState>,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<BroadcastList, StoreError> {
        let pk = broadcast_page_pk(page);
        if let Some(c) = &cursor {
            if c.attr("page_pk") != Some(pk.as_str()) || c.attr("created_sk").is_none() || c.attr("pk").is_none() {
                return Err(StoreError::Corrupt("cursor"));
            }
        }
        let mut start = cursor.map(|c| c.0);
        let mut broadcasts = Vec::new();
        for _ in 0..MAX_LIST_READS {
            let want = limit.saturating_sub(broadcasts.len()).max(1);
            let mut query = self
                .ddb
                .query()
                .table_name(&self.tables.broadcasts)
                .index_name(BY_PAGE_INDEX)
                .key_condition_expression("page_pk = :p")
                .expression_attribute_values(":p", s(&pk))
                .scan_index_forward(false)
                .set_exclusive_start_key(start.take())
                .limit(want as i32);
            if let Some(st) = state {
                query = query
                    .filter_expression("#s = :st")
                    .expression_attribute_names("#s", "state")
                    .expression_attribute_values(":st", s(st.as_str()));
            }
            let out = query.send().await.map_err(StoreError::dynamo)?;
            for item in out.items() {
                broadcasts.push(broadcast_from_item(item)?);
            }
            start = out.last_evaluated_key().filter(|k| !k.is_empty()).cloned();
            if start.is_none() || broadcasts.len() >= limit {
                break;
            }
        }
        Ok(BroadcastList {
            broadcasts,
            next: start.map(Cursor),
        })
    }

    /// Resumes a paused broadcast: back to sending (definition and every
    /// lane, in one transaction), its pause reason gone, and due again so
    /// that its start is finished (`dispatch::start` now, else the
    /// scheduler). With `baseline` (a resume of page protection's pause,
    /// [`crate::outcomes::baseline_at_resume`]) it is recorded in the same
    /// write, so protection judges only what follows. False if it was not
    /// paused.
    ///
    /// # Errors
    /// [`StoreError::Dynamo`] when a DynamoDB call fails ([`StoreError::is_retryable`]
    /// says whether to try again).
    pub async fn resume(
        &self,
        id: &BroadcastId,
        now_ms: i64,
        baseline: Option<&ProtectionBaseline>,
    ) -> Result<bool, StoreError> {
        let mut values = Item::from([(":now".to_string(), n(now_ms)), (":due".to_string(), s(DUE_PK))]);
        let mut set = "SET #s = :to, resumed_at_ms = :now, due_pk = :due".to_string();
        if let Some(base) = baseline {
            let (more, more_values) = super::outcomes::baseline_update(base);
            set = format!("{set}, {more}");
            values.extend(more_values);
        }
        self.set_state(
            id,
            &[BroadcastState::Paused],
            BroadcastState::Sending,
            &format!("{set} REMOVE paused_reason"),
            values,
        )
        .await
    }
}
