//! The corpus of Meta delivery shapes (`tests/fixtures/meta/`, written from
//! Meta's webhook reference): each is replayed, signed, through `/webhook`
//! after the leads it assumes, and its expected consent outcome is asserted.

use std::collections::BTreeMap;

use optcast_tests::*;
use serde_json::{json, Value};

struct Fixture {
    name: String,
    doc: Value,
}

fn load() -> Vec<Fixture> {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/fixtures/meta");
    let mut names: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| e.ok())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".json"))
        .collect();
    names.sort();
    names
        .into_iter()
        .map(|name| Fixture {
            doc: serde_json::from_str(&std::fs::read_to_string(format!("{dir}/{name}")).unwrap())
                .unwrap_or_else(|e| panic!("{name}: {e}")),
            name,
        })
        .collect()
}

fn id_text(v: &Value) -> Option<String> {
    v.as_str()
        .map(str::to_owned)
        .or_else(|| v.as_u64().map(|n| n.to_string()))
}

/// Every (person, page) the delivery names: senders, echoes' recipients,
/// commenters (`from`).
fn people(delivery: &Value) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    for entry in delivery["entry"].as_array().unwrap() {
        let page = id_text(&entry["id"]).unwrap();
        let items = ["messaging", "standby"]
            .iter()
            .flat_map(|k| entry[*k].as_array().cloned().unwrap_or_default())
            .chain(
                entry["changes"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                    .into_iter()
                    .map(|c| c["value"].clone()),
            );
        for item in items {
            for side in ["sender", "recipient", "from"] {
                if let Some(id) = id_text(&item[side]["id"]).filter(|id| *id != page) {
                    out.insert(id, page.clone());
                }
            }
        }
    }
    out
}

/// The earliest timestamp (ms) anywhere in the delivery.
fn earliest(v: &Value) -> i64 {
    let mut min = i64::MAX;
    let mut stack = vec![v];
    while let Some(v) = stack.pop() {
        match v {
            Value::Object(map) => {
                for (k, x) in map {
                    let ts = x.as_f64().or_else(|| x.as_str().and_then(|s| s.parse().ok()));
                    if k == "timestamp" {
                        if let Some(ts) = ts {
                            let ms = if ts < 1e11 { ts * 1000.0 } else { ts };
                            min = min.min(ms as i64);
                        }
                    }
                    stack.push(x);
                }
            }
            Value::Array(list) => stack.extend(list),
            _ => {}
        }
    }
    min
}

#[tokio::test]
async fn every_meta_delivery_shape_in_the_corpus_has_its_expected_consent_outcome() {
    let app = spawn_app().await;
    let fixtures = load();
    assert!(fixtures.len() >= 30, "{} fixtures", fixtures.len());
    // The leads each fixture assumes, written an hour before it (and STOP
    // half an hour before, for unsubscribed ones).
    for f in &fixtures {
        let delivery = &f.doc["delivery"];
        let pages = people(delivery);
        let at = earliest(delivery);
        for lead in f.doc["before"].as_array().cloned().unwrap_or_default() {
            let psid = lead["psid"].as_str().unwrap();
            let page = &pages[psid];
            let mut items = vec![
                json!({"sender":{"id":psid},"recipient":{"id":page},"timestamp":at - 3_600_000,
                "message":{"mid":format!("m_before_{psid}"),"text":"hello"}}),
            ];
            if lead["status"] == "unsubscribed" {
                items.push(
                    json!({"sender":{"id":psid},"recipient":{"id":page},"timestamp":at - 1_800_000,
                    "message":{"mid":format!("m_before_stop_{psid}"),"text":"STOP"}}),
                );
            }
            app.post_items(delivery["object"].as_str().unwrap(), page, items).await;
        }
    }
    app.drain_ingest().await;
    for f in &fixtures {
        let body = f.doc["delivery"].to_string();
        assert_eq!(app.post_signed(body.as_bytes()).await.status(), 200, "{}", f.name);
    }
    app.drain_ingest().await;
    let mut failures = Vec::new();
    for f in &fixtures {
        let pages = people(&f.doc["delivery"]);
        for (psid, want) in f.doc["expect"].as_object().unwrap() {
            let page = pages
                .get(psid)
                .unwrap_or_else(|| panic!("{}: {psid} not in the delivery", f.name));
            let got = app.status(page, psid).await;
            if got != want.as_str().unwrap() {
                failures.push(format!("{}: {psid} is {got}, expected {want}", f.name));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    let expected_quarantined: u64 = fixtures
        .iter()
        .map(|f| f.doc["quarantined"].as_u64().unwrap_or(0))
        .sum();
    let quarantined = app.wait_quarantined(0).await;
    assert_eq!(quarantined.len() as u64, expected_quarantined, "{quarantined:?}");
    assert!(app.dead_letters().await.is_empty());
    app.stack.stop().await;
}
