//! Pages as text: the list (`GET /v1/pages`) and one page's settings.

use serde_json::Value;

use super::{next, rate, table, text, time};

/// Page protection in words: `pause above 2.0% after 200 messages`.
fn protection(p: &Value) -> String {
    if p.is_object() {
        format!(
            "pause above {} after {} messages",
            rate(&p["max_negative_rate"]),
            text(&p["min_sends"])
        )
    } else {
        "-".into()
    }
}

/// Whether the page has a token: `connected` or, for a page whose leads
/// wrote in before anyone connected it, `not connected`.
fn connection(v: &Value) -> &'static str {
    if v["token_set"].as_bool().unwrap_or(false) {
        "connected"
    } else {
        "not connected"
    }
}

/// `GET /v1/pages`.
pub fn page_list(v: &Value) -> String {
    let rows = v["pages"].as_array().into_iter().flatten().map(|p| {
        vec![
            text(&p["page_id"]),
            connection(p).to_string(),
            format!("{} days", text(&p["retention_days"])),
            text(&p["region"]),
            protection(&p["protection"]),
            time(&p["updated_at_ms"]),
        ]
    });
    table(&["PAGE", "TOKEN", "RETENTION", "REGION", "PROTECTION", "UPDATED"], rows) + &next(&v["next_cursor"])
}

/// `GET /v1/pages/<page>`.
pub fn page_details(v: &Value) -> String {
    [
        format!("page        {} ({})", text(&v["page_id"]), connection(v)),
        format!("retention   {} days", text(&v["retention_days"])),
        format!("region      {}", text(&v["region"])),
        format!("protection  {}", protection(&v["protection"])),
        format!("connected   {}", time(&v["connected_at_ms"])),
        format!("updated     {}", time(&v["updated_at_ms"])),
        format!("first data  {}", time(&v["first_seen_at_ms"])),
    ]
    .join("\n")
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn page() -> Value {
        json!({"page_id": "1000000000000001", "token_set": true, "retention_days": 365, "region": "EU",
            "protection": {"max_negative_rate": 0.02, "min_sends": 200}, "connected_at_ms": 0,
            "updated_at_ms": 86_400_000, "first_seen_at_ms": null})
    }

    #[test]
    fn the_page_list_is_a_table_of_settings_with_the_next_cursor() {
        let seen = json!({"page_id": "1000000000000002", "token_set": false, "retention_days": 730, "region": null,
            "protection": {"max_negative_rate": 0.02, "min_sends": 200}, "connected_at_ms": null,
            "updated_at_ms": null, "first_seen_at_ms": 5});
        let out = page_list(&json!({"pages": [page(), seen], "next_cursor": "abc"}));
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].starts_with("PAGE") && lines[0].contains("PROTECTION"), "{out}");
        assert!(
            lines[1].contains("1000000000000001")
                && lines[1].contains("connected")
                && lines[1].contains("365 days")
                && lines[1].contains("EU")
                && lines[1].contains("pause above 2.0% after 200 messages")
                && lines[1].contains("1970-01-02T00:00:00Z"),
            "{out}"
        );
        assert!(
            lines[2].contains("not connected") && lines[2].contains("730 days"),
            "{out}"
        );
        assert_eq!(lines.last(), Some(&"more: --cursor abc"));
    }

    #[test]
    fn one_page_shows_each_setting_on_its_own_line() {
        let out = page_details(&page());
        assert_eq!(
            out,
            "page        1000000000000001 (connected)\n\
             retention   365 days\n\
             region      EU\n\
             protection  pause above 2.0% after 200 messages\n\
             connected   1970-01-01T00:00:00Z\n\
             updated     1970-01-02T00:00:00Z\n\
             first data  -"
        );
    }
}
