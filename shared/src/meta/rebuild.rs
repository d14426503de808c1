//! A delivery rebuilt from some of its items: a chunk of a large delivery,
//! a quarantined item, a raw copy rewritten by erasure.

use super::*;

/// A delivery holding only `items` (a chunk of a large delivery, or one
/// quarantined item), built from their raw text: parsing it gives the same
/// units, keys and proof hashes as in the original.
pub fn rebuild_delivery<'a>(object: &str, items: impl IntoIterator<Item = &'a DeliveryItem>) -> String {
    let mut entries = Vec::new();
    for item in items {
        let raw = item.raw();
        if item.source == Source::Entry && item.entry_id.is_none() {
            entries.push(raw.into_owned());
            continue;
        }
        let mut entry = String::from("{");
        if let Some(id) = &item.entry_id {
            entry.push_str(&format!("\"id\":{id},"));
        }
        if let Some(time) = &item.entry_time {
            entry.push_str(&format!("\"time\":{time},"));
        }
        match &item.source {
            Source::Messaging => entry.push_str(&format!("\"messaging\":[{raw}]")),
            Source::Standby => entry.push_str(&format!("\"standby\":[{raw}]")),
            Source::Change(field) => {
                let field = serde_json::to_string(field).unwrap_or_else(|_| "\"\"".into());
                entry.push_str(&format!("\"changes\":[{{\"field\":{field},\"value\":{raw}}}]"));
            }
            // A malformed change: kept as the entry's only change.
            Source::Entry => entry.push_str(&format!("\"changes\":[{raw}]")),
        }
        entry.push('}');
        entries.push(entry);
    }
    format!("{{\"object\":{object},\"entry\":[{}]}}", entries.join(","))
}
