//! The API's answers as text for people: tables and short lines. Pure
//! functions of the JSON the API returned (its shapes are in
//! `functions/api/openapi.json`), so they are unit-tested without a server.

use comfy_table::{presets, Table};
use serde_json::Value;

mod leads;
mod pages;

pub use leads::{bulk_tag, erasure, subscriber, subscriber_list, tag_result};
pub use pages::{page_details, page_list};

/// `ms` (Unix milliseconds) as RFC 3339 UTC, `-` when absent.
pub fn time(ms: &Value) -> String {
    ms.as_i64()
        .and_then(|ms| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ms) * 1_000_000).ok())
        .and_then(|t| t.format(&time::format_description::well_known::Rfc3339).ok())
        .unwrap_or_else(|| "-".into())
}

/// A value as one line of text. A control character (a terminal escape, a
/// newline) or a bidirectional override in a string is shown escaped
/// (`\u{1b}`): what the API returns cannot rewrite the terminal or the
/// table around it.
pub(crate) fn text(v: &Value) -> String {
    match v {
        Value::Null => "-".into(),
        Value::String(s) => s
            .chars()
            .map(|c| {
                if c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}') {
                    c.escape_unicode().to_string()
                } else {
                    c.to_string()
                }
            })
            .collect(),
        other => other.to_string(),
    }
}

fn int(v: &Value) -> i64 {
    v.as_i64().unwrap_or(0)
}

pub(crate) fn tags(v: &Value) -> String {
    let list: Vec<String> = v.as_array().into_iter().flatten().map(text).collect();
    if list.is_empty() {
        "-".into()
    } else {
        list.join(",")
    }
}

pub(crate) fn rate(v: &Value) -> String {
    v.as_f64().map_or_else(|| "-".into(), |r| format!("{:.1}%", r * 100.0))
}

pub(crate) fn table(header: &[&str], rows: impl IntoIterator<Item = Vec<String>>) -> String {
    let mut t = Table::new();
    t.load_preset(presets::NOTHING).set_header(header.iter().copied());
    for r in rows {
        t.add_row(r);
    }
    // comfy-table pads every line to the column widths; trailing blanks help no one.
    t.to_string()
        .lines()
        .map(|l| l.trim_end().trim_start_matches(' '))
        .collect::<Vec<_>>()
        .join("\n")
}

pub(crate) fn next(cursor: &Value) -> String {
    cursor
        .as_str()
        .map(|c| format!("\nmore: --cursor {c}"))
        .unwrap_or_default()
}

/// `PUT /v1/pages/<page>`'s answer.
pub fn page(v: &Value) -> String {
    let p = &v["protection"];
    format!(
        "page {} connected: retention {} days, region {}, protection: pause above {} unsubscribed or blocked after {} messages",
        text(&v["page_id"]),
        text(&v["retention_days"]),
        text(&v["region"]),
        rate(&p["max_negative_rate"]),
        text(&p["min_sends"]),
    )
}

/// The counts line of a broadcast.
pub fn counts(c: &Value) -> String {
    format!(
        "audience {}, queued {}, sent {}, skipped (unsubscribed) {}, skipped (policy) {}, failed {}",
        int(&c["audience"]),
        int(&c["queued"]),
        int(&c["sent"]),
        int(&c["skipped_unsubscribed"]),
        int(&c["skipped_policy"]),
        int(&c["failed"]),
    )
}

/// `GET /v1/broadcasts/<id>` (also the answer of pause, resume, cancel).
pub fn broadcast(v: &Value) -> String {
    let mut out = vec![
        format!("broadcast   {}", text(&v["id"])),
        format!("page        {}", text(&v["page_id"])),
        format!("name        {}", text(&v["name"])),
        format!("state       {}", text(&v["state"])),
    ];
    if !v["paused_reason"].is_null() {
        out.push(format!("paused      {}", text(&v["paused_reason"])));
    }
    out.push(format!("send at     {}", time(&v["send_at_ms"])));
    out.push(format!("created     {}", time(&v["created_at_ms"])));
    out.push(format!("tags        {}", tags(&v["tags"])));
    out.push(format!("counts      {}", counts(&v["counts"])));
    let o = &v["outcomes"];
    if o.is_object() {
        let r = &o["rates"];
        out.push(format!(
            "outcomes    delivered {} ({}), read {} ({}), unsubscribed {} ({}), blocked {} ({})",
            int(&o["delivered"]),
            rate(&r["delivered"]),
            int(&o["read"]),
            rate(&r["read"]),
            int(&o["unsubscribed"]),
            rate(&r["unsubscribed"]),
            int(&o["blocked"]),
            rate(&r["blocked"]),
        ));
        if let Some(errors) = o["meta_errors"].as_object().filter(|e| !e.is_empty()) {
            let list: Vec<String> = errors.iter().map(|(k, n)| format!("{k}: {n}")).collect();
            out.push(format!("meta errors {}", list.join(", ")));
        }
    }
    out.join("\n")
}

/// `GET /v1/broadcasts`.
pub fn broadcast_list(v: &Value) -> String {
    let rows = v["broadcasts"].as_array().into_iter().flatten().map(|b| {
        vec![
            text(&b["id"]),
            text(&b["state"]),
            text(&b["name"]),
            time(&b["send_at_ms"]),
            time(&b["created_at_ms"]),
            tags(&b["tags"]),
        ]
    });
    table(&["ID", "STATE", "NAME", "SEND AT", "CREATED", "TAGS"], rows) + &next(&v["next_cursor"])
}

/// `POST /v1/broadcasts/preview`.
pub fn preview(v: &Value) -> String {
    let mut out = vec![format!(
        "audience {} (inside the 24-hour window {}, marketing token {}) of {} {} read{}",
        int(&v["audience"]),
        int(&v["reach"]["window"]),
        int(&v["reach"]["marketing_token"]),
        int(&v["leads_read"]),
        if int(&v["leads_read"]) == 1 { "lead" } else { "leads" },
        if v["complete"] == Value::Bool(false) {
            "; the Page has more leads"
        } else {
            ""
        },
    )];
    out.push(format!("judged at {}", time(&v["judged_at_ms"])));
    let excluded = &v["excluded"];
    out.push(format!("excluded {}", int(&excluded["total"])));
    if let Some(reasons) = excluded.as_object() {
        for (reason, n) in reasons.iter().filter(|(k, n)| *k != "total" && int(n) > 0) {
            out.push(format!("  {reason:<22} {}", int(n)));
        }
    }
    out.push(format!("message: {}", message(&v["message"])));
    out.join("\n") + &next(&v["next_cursor"])
}

/// A Send API `message` in one line: its text and its controls.
pub fn message(m: &Value) -> String {
    let body = m["text"]
        .as_str()
        .or_else(|| m["attachment"]["payload"]["text"].as_str())
        .unwrap_or_default();
    let mut controls: Vec<String> = m["quick_replies"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|q| text(&q["title"]))
        .collect();
    controls.extend(
        m["attachment"]["payload"]["buttons"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|b| text(&b["title"])),
    );
    // Quoted by Debug, which escapes control characters, bidi overrides,
    // quotes and backslashes, each once.
    format!("{body:?} [{}]", controls.join("] ["))
}

/// `POST /v1/broadcasts/<id>/test`.
pub fn test_results(v: &Value) -> String {
    let rows = v["results"].as_array().into_iter().flatten().map(|r| {
        let detail = match r["result"].as_str() {
            Some("sent") => text(&r["message_id"]),
            Some("failed") => format!("{} {}", text(&r["reason"]), r["error"]),
            _ => text(&r["reason"]),
        };
        vec![text(&r["psid"]), text(&r["result"]), detail]
    });
    table(&["PSID", "RESULT", "DETAIL"], rows)
}

/// What a skip or failure reason of the recipients route means.
pub fn reason_words(reason: &str) -> &'static str {
    match reason {
        "unsubscribed" => "the lead was unsubscribed at send time",
        "unreachable" => "the lead was unreachable (blocked or unavailable per Meta) at send time",
        "erased" => "the lead was erased",
        "outside_window" => "outside the 24-hour window, with no marketing-messages token",
        "marketing_stopped" => "outside the window; the lead stopped marketing messages",
        "marketing_expired" => "outside the window; the marketing token had expired",
        "marketing_unavailable" => "outside the window; Meta does not honour marketing tokens in the page's region",
        "marketing_too_soon" => "outside the window; a marketing message went to the lead in the 48 hours before",
        "marketing_hold" => "outside the window; another broadcast's marketing message holds the lead's 48 hours",
        "meta_policy" => "the Send API refused it by policy",
        "retention_expired" => "it waited, parked by a pause, past the page's retention and was deleted",
        "blocked" => "the Send API said the person cannot be reached",
        "meta_rejected" => "Meta refused the request",
        "stale_claim" => "a run died mid-send; never resent",
        "unknown_outcome" => "the Send API's answer was lost after Meta may have taken it; never resent",
        "retries_exhausted" => "it was deferred (Meta's rate limits, storage) until its last try; never sent",
        _ => "see the API reference",
    }
}

/// `GET /v1/broadcasts/<id>/recipients/<psid>`.
pub fn recipient(v: &Value) -> String {
    let state = v["state"].as_str().unwrap_or("-");
    let head = match state {
        "sent" => format!(
            "sent at {} (mid {}); delivered {}, read {}",
            time(&v["sent_at_ms"]),
            text(&v["mid"]),
            time(&v["delivered_at_ms"]),
            time(&v["read_at_ms"]),
        ),
        "claimed" => format!("being sent (claimed at {})", time(&v["recorded_at_ms"])),
        "parked" => format!(
            "parked at {}: the broadcast is paused; sent or skipped after its resume",
            time(&v["recorded_at_ms"])
        ),
        _ => {
            let reason = v["reason"].as_str().unwrap_or("-");
            format!(
                "{state}: {reason}, {} (recorded {})",
                reason_words(reason),
                time(&v["recorded_at_ms"])
            )
        }
    };
    let mut out = format!(
        "lead {} in broadcast {}: {head}",
        text(&v["psid"]),
        text(&v["broadcast_id"])
    );
    if !v["unsubscribed_at_ms"].is_null() {
        out.push_str(&format!(
            "\nunsubscribed after it at {}",
            time(&v["unsubscribed_at_ms"])
        ));
    }
    out
}

#[cfg(test)]
mod tests;
