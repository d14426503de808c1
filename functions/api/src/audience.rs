//! Audience management: a page's leads listed by consent status and tag
//! (ids, status and tags only), and tags added and removed, one lead at a
//! time or in bulk. Tags follow the one tag rule (`optcast_shared::tags`).

use lambda_http::{Request, RequestExt};
use optcast_shared::access::Caller;
use optcast_shared::consent::SubscriberStatus;
use optcast_shared::ids::{PageId, Psid};
use optcast_shared::store::TagWrite;
use optcast_shared::tags;
use serde::Deserialize;
use serde_json::json;

use super::control::{cursor_error, paging};
use super::{bad, parse_json, Api, ApiError};

/// Most PSIDs one bulk tag request names (add and remove together).
pub(crate) const MAX_BULK_PSIDS: usize = 100;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BulkBody {
    #[serde(default)]
    add: Vec<String>,
    #[serde(default)]
    remove: Vec<String>,
}

/// A tag from a path segment: percent-decoded UTF-8, of the allowed form
/// when it is to be `added` ([`tags::is_valid`]), else of any stored form
/// ([`tags::is_stored_form`]: one stored before the label rule can still be
/// removed).
fn tag_of(raw: &str, added: bool) -> Result<String, ApiError> {
    // A `%` must begin an escape: the decoder keeps a malformed one
    // (`%ZZ`, a lone `%`) as it is, which stored a tag the client never
    // meant (a literal `%` is `%25`).
    let bytes = raw.as_bytes();
    let malformed_escape = bytes
        .iter()
        .enumerate()
        .any(|(i, &b)| b == b'%' && !(bytes.get(i + 1..i + 3)).is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit)));
    if malformed_escape {
        return Err(invalid_tag());
    }
    let tag = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| invalid_tag())?
        .into_owned();
    let allowed = if added {
        tags::is_valid(&tag)
    } else {
        tags::is_stored_form(&tag)
    };
    if !allowed {
        return Err(invalid_tag());
    }
    Ok(tag)
}

fn invalid_tag() -> ApiError {
    bad(
        "invalid_tag",
        format!(
            "a tag is 1 to {} characters, not only spaces, without control characters, not . or .. (percent-encoded in a path, a literal % as %25)",
            tags::MAX_TAG_CHARS
        ),
    )
}

fn page_of(raw: &str) -> Result<PageId, ApiError> {
    PageId::parse(raw).map_err(|e| bad("invalid_page_id", e.to_string()))
}

fn psid_of(raw: &str) -> Result<Psid, ApiError> {
    Psid::parse(raw).map_err(|e| bad("invalid_psid", e.to_string()))
}

/// What a bulk item reports for a write.
fn result_code(write: TagWrite, adding: bool) -> &'static str {
    match (write, adding) {
        (TagWrite::Changed, true) => "added",
        (TagWrite::Changed, false) => "removed",
        (TagWrite::Unchanged, _) => "unchanged",
        (TagWrite::NoLead, _) => "not_found",
        (TagWrite::TooManyTags, _) => "too_many_tags",
    }
}

impl Api {
    /// `GET /v1/pages/<page>/subscribers?status=&tag=&cursor=&limit=`: 200
    /// `{"subscribers": [{psid, status, tags, consent_changed_at_ms}], "next_cursor"}`.
    pub(crate) async fn list_subscribers(
        &self,
        caller: &Caller,
        page: &str,
        req: &Request,
    ) -> Result<(u16, serde_json::Value), ApiError> {
        let page_id = page_of(page)?;
        let params = req.query_string_parameters();
        let status = match params.first("status") {
            None => None,
            Some(raw) => Some(SubscriberStatus::parse(raw).ok_or_else(|| {
                bad(
                    "invalid_status",
                    "status must be subscribed, unsubscribed, unreachable or erased",
                )
            })?),
        };
        let tag = match params.first("tag") {
            None => None,
            Some(t) if tags::is_stored_form(t) => Some(t.to_string()),
            Some(_) => return Err(invalid_tag()),
        };
        let (limit, cursor) = paging(req)?;
        caller.require_page(&page_id)?;
        let list = self
            .leads
            .page_leads(&page_id, status, tag.as_deref(), cursor, limit)
            .await
            .map_err(cursor_error)?;
        let subscribers: Vec<_> = list
            .leads
            .iter()
            .map(|l| {
                json!({"psid": l.psid.as_str(), "status": l.status.as_str(), "tags": l.tags,
                       "consent_changed_at_ms": l.consent_changed_at_ms})
            })
            .collect();
        Ok((
            200,
            json!({"subscribers": subscribers, "next_cursor": list.next.map(|c| c.to_token())}),
        ))
    }

    /// `PUT` (`add`) or `DELETE /v1/pages/<page>/subscribers/<psid>/tags/<tag>`:
    /// 200 `{page_id, psid, tag, result: added|removed|unchanged}`;
    /// 404 for an unknown lead; 409 `too_many_tags`.
    pub(crate) async fn tag(
        &self,
        caller: &Caller,
        page: &str,
        psid: &str,
        tag: &str,
        add: bool,
    ) -> Result<(u16, serde_json::Value), ApiError> {
        let (page_id, psid, tag) = (page_of(page)?, psid_of(psid)?, tag_of(tag, add)?);
        caller.require_page(&page_id)?;
        let write = if add {
            self.leads.add_tag(&page_id, &psid, &tag).await?
        } else {
            self.leads.remove_tag(&page_id, &psid, &tag).await?
        };
        match write {
            TagWrite::NoLead => Err(ApiError::NotFound("subscriber")),
            TagWrite::TooManyTags => Err(ApiError::ConflictWith(
                "too_many_tags",
                format!("a lead carries at most {} tags", tags::MAX_TAGS),
            )),
            w => Ok((
                200,
                json!({"page_id": page_id.as_str(), "psid": psid.as_str(), "tag": tag,
                       "result": result_code(w, add)}),
            )),
        }
    }

    /// `POST /v1/pages/<page>/tags/<tag>` `{"add": [psids], "remove": [psids]}`
    /// (together 1 to [`MAX_BULK_PSIDS`]; a PSID in both is refused): 200
    /// `{"tag", "results": [{psid, action, result}]}`, one per PSID, in order.
    pub(crate) async fn bulk_tag(
        &self,
        caller: &Caller,
        page: &str,
        tag: &str,
        body: &[u8],
    ) -> Result<(u16, serde_json::Value), ApiError> {
        let (page_id, tag) = (page_of(page)?, tag_of(tag, false)?);
        let req: BulkBody = parse_json(body)?;
        if !req.add.is_empty() && !tags::is_valid(&tag) {
            return Err(invalid_tag());
        }
        let total = req.add.len() + req.remove.len();
        if total == 0 {
            return Err(bad("no_psids", "add or remove must name at least one PSID"));
        }
        if total > MAX_BULK_PSIDS {
            return Err(bad(
                "too_many_psids",
                format!("add and remove name at most {MAX_BULK_PSIDS} PSIDs together"),
            ));
        }
        let parse_all = |raw: Vec<String>| -> Result<Vec<Psid>, ApiError> {
            let mut out: Vec<Psid> = Vec::new();
            for p in raw {
                let psid = psid_of(&p)?;
                if !out.contains(&psid) {
                    out.push(psid);
                }
            }
            Ok(out)
        };
        let (add, remove) = (parse_all(req.add)?, parse_all(req.remove)?);
        if add.iter().any(|p| remove.contains(p)) {
            return Err(bad("conflicting_psids", "a PSID is in both add and remove"));
        }
        caller.require_page(&page_id)?;
        let mut results = Vec::with_capacity(add.len() + remove.len());
        for (psids, adding) in [(add, true), (remove, false)] {
            for psid in psids {
                let write = if adding {
                    self.leads.add_tag(&page_id, &psid, &tag).await?
                } else {
                    self.leads.remove_tag(&page_id, &psid, &tag).await?
                };
                results.push(
                    json!({"psid": psid.as_str(), "action": if adding { "add" } else { "remove" },
                                    "result": result_code(write, adding)}),
                );
            }
        }
        tracing::info!(page = %page_id, items = results.len(), "bulk tag");
        Ok((
            200,
            json!({"page_id": page_id.as_str(), "tag": tag, "results": results}),
        ))
    }
}
