//! Leads and data-subject answers as text: subscribers, tags, erasures.

use serde_json::Value;

use super::{next, table, tags, text, time};

/// `GET /v1/pages/<page>/subscribers`.
pub fn subscriber_list(v: &Value) -> String {
    let rows = v["subscribers"].as_array().into_iter().flatten().map(|s| {
        vec![
            text(&s["psid"]),
            text(&s["status"]),
            tags(&s["tags"]),
            time(&s["consent_changed_at_ms"]),
        ]
    });
    table(&["PSID", "STATUS", "TAGS", "CONSENT CHANGED"], rows) + &next(&v["next_cursor"])
}

/// `GET /v1/pages/<page>/subscribers/<psid>`: state, then consent history.
pub fn subscriber(v: &Value) -> String {
    let mut out = vec![
        format!("lead          {} (page {})", text(&v["psid"]), text(&v["page_id"])),
        format!("status        {}", text(&v["status"])),
        format!("tags          {}", tags(&v["tags"])),
        format!("last inbound  {}", time(&v["last_inbound_at_ms"])),
    ];
    if v["opted_in"].is_object() {
        out.push(format!(
            "opted in      {} (event {})",
            time(&v["opted_in"]["event_time_ms"]),
            text(&v["opted_in"]["event_key"])
        ));
    }
    let m = &v["marketing_messages"];
    if m.is_object() {
        out.push(format!(
            "marketing     granted {}, stopped {}, expires {}",
            text(&m["granted"]),
            text(&m["stopped"]),
            time(&m["expires_at_ms"])
        ));
    }
    let rows = v["history"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| vec![time(&h["at_ms"]), text(&h["from"]), text(&h["to"]), text(&h["reason"])]);
    out.push(String::new());
    out.push(table(&["AT", "FROM", "TO", "REASON"], rows));
    out.join("\n")
}

/// A one-lead tag change.
pub fn tag_result(v: &Value) -> String {
    format!("{}: tag {} {}", text(&v["psid"]), text(&v["tag"]), text(&v["result"]))
}

/// A bulk tag change: one row per PSID.
pub fn bulk_tag(v: &Value) -> String {
    let rows = v["results"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|r| vec![text(&r["psid"]), text(&r["action"]), text(&r["result"])]);
    table(&["PSID", "ACTION", "RESULT"], rows)
}

/// `GET /v1/erasure/<id>`.
pub fn erasure(v: &Value) -> String {
    let mut out = format!(
        "erasure {}: {} (requested {}, completed {})",
        text(&v["id"]),
        text(&v["status"]),
        time(&v["created_at_ms"]),
        time(&v["completed_at_ms"])
    );
    if let Some(report) = v["report"].as_object().filter(|r| !r.is_empty()) {
        let list: Vec<String> = report.iter().map(|(k, n)| format!("{k} {n}")).collect();
        out.push_str(&format!("\ndeleted: {}", list.join(", ")));
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_subscriber_shows_status_tags_and_history_rows() {
        let v = json!({"page_id":"1","psid":"2","status":"unsubscribed","tags":["a","b"],"last_inbound_at_ms":null,
            "history":[{"at_ms":0,"from":null,"to":"subscribed","reason":"first_contact"},
                       {"at_ms":1000,"from":"subscribed","to":"unsubscribed","reason":"stop_keyword"}]});
        let out = subscriber(&v);
        assert!(out.contains("status        unsubscribed"), "{out}");
        assert!(out.contains("tags          a,b"), "{out}");
        let history: Vec<&str> = out.lines().skip_while(|l| !l.starts_with("AT")).collect();
        assert_eq!(history.len(), 3, "{out}");
        assert!(
            history[2].contains("subscribed") && history[2].contains("stop_keyword"),
            "{out}"
        );
    }
}
