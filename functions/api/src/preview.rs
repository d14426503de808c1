//! `POST /v1/broadcasts/preview`: the dry run of a create body. The body is
//! read exactly as create reads it (same errors); each lead of the page is
//! judged by the planner's and the sender's own rules
//! (`optcast_shared::broadcast::judge`) and counted; the message is rendered
//! by the sender's builder. Nothing is stored, queued or sent.

use lambda_http::{Request, RequestExt};
use optcast_shared::access::Caller;
use optcast_shared::broadcast::{self, PreviewCounts, MAX_PREVIEW_LEADS, PREVIEW_QUERY_LEADS};
use optcast_shared::http::now_ms;
use optcast_shared::store::Cursor;
use serde_json::json;

use super::control::cursor_error;
use super::{bad, Api, ApiError};

/// `?limit=` (1 to [`MAX_PREVIEW_LEADS`], the default) and `?cursor=` (the
/// `next_cursor` of an earlier preview of the same page).
fn preview_paging(req: &Request) -> Result<(usize, Option<Cursor>), ApiError> {
    let params = req.query_string_parameters();
    let limit = match params.first("limit") {
        None => MAX_PREVIEW_LEADS,
        Some(raw) => raw
            .parse::<usize>()
            .ok()
            .filter(|l| (1..=MAX_PREVIEW_LEADS).contains(l))
            .ok_or_else(|| bad("invalid_limit", format!("limit must be 1 to {MAX_PREVIEW_LEADS}")))?,
    };
    let cursor = match params.first("cursor") {
        None | Some("") => None,
        Some(raw) => Some(Cursor::from_token(raw).ok_or_else(|| {
            bad(
                "invalid_cursor",
                "cursor must be the next_cursor of a preview of this page",
            )
        })?),
    };
    Ok((limit, cursor))
}

impl Api {
    /// `POST /v1/broadcasts/preview?limit=&cursor=` with a create body: 200
    /// with the audience, the excluded leads by reason, the leads read and
    /// whether that was all of them, and the rendered message.
    pub(crate) async fn preview(
        &self,
        caller: &Caller,
        req: &Request,
        body: &[u8],
    ) -> Result<(u16, serde_json::Value), ApiError> {
        let now = now_ms();
        let (new, page) = self.new_broadcast(caller, body, now).await?;
        let (limit, mut cursor) = preview_paging(req)?;
        let at = broadcast::judged_at(new.send_at_ms, now);
        let marketing_available = broadcast::marketing_messages_available(page.region.as_deref());
        let mut counts = PreviewCounts::default();
        let (mut read, mut unreadable) = (0usize, 0usize);
        loop {
            let want = (limit - read).min(PREVIEW_QUERY_LEADS);
            let batch = self
                .leads
                .page_leads_whole(&new.page_id, cursor.take(), want)
                .await
                .map_err(cursor_error)?;
            for lead in &batch.leads {
                counts.add(broadcast::judge(at, lead, &new.tags, marketing_available));
            }
            read += batch.leads.len() + batch.unreadable;
            unreadable += batch.unreadable;
            cursor = batch.next;
            if cursor.is_none() || read >= limit {
                break;
            }
        }
        tracing::info!(page = %new.page_id, leads_read = read, audience = counts.audience(), "broadcast previewed");
        Ok((
            200,
            json!({
                "page_id": new.page_id.as_str(),
                "tags": new.tags,
                "send_at_ms": new.send_at_ms,
                "judged_at_ms": at,
                "marketing_messages_available": marketing_available,
                "audience": counts.audience(),
                "reach": {"window": counts.window, "marketing_token": counts.marketing_token},
                "excluded": {
                    "total": counts.excluded(),
                    "unsubscribed": counts.unsubscribed,
                    "unreachable": counts.unreachable,
                    "tags_not_matched": counts.tags_not_matched,
                    "outside_window": counts.outside_window,
                    "marketing_stopped": counts.marketing_stopped,
                    "marketing_expired": counts.marketing_expired,
                    "marketing_unavailable": counts.marketing_unavailable,
                    "marketing_too_soon": counts.marketing_too_soon,
                    "marketing_hold": counts.marketing_hold,
                },
                "leads_read": read,
                "unreadable": unreadable,
                "complete": cursor.is_none(),
                "next_cursor": cursor.map(|c| c.to_token()),
                "message": broadcast::preview_message(&new.message),
            }),
        ))
    }
}
