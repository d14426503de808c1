//! No opt-out is lost on real Meta traffic: lenient reading of the shapes
//! real deliveries take, what starts a conversation and what never does,
//! edits, unsends, Instagram's `changes`, impossible timestamps, one bad part
//! in a delivery, a message too large for one item, idempotency per person.

mod deliveries;
mod opt_ins;
mod shapes;
mod timing;

use optcast_tests::*;
use serde_json::{json, Value};

const PAGE: &str = "1000000000000001";

fn item(psid: &str, ts: Value, body: Value) -> Value {
    let mut item = json!({"sender": {"id": psid}, "recipient": {"id": PAGE}, "timestamp": ts});
    for (k, v) in body.as_object().unwrap() {
        item[k] = v.clone();
    }
    item
}

fn text(psid: &str, ts: Value, mid: Value, text: &str) -> Value {
    item(psid, ts, json!({"message": {"mid": mid, "text": text}}))
}

/// Leads who said hello a minute ago.
async fn seed(app: &TestApp, psids: &[&str]) {
    let psids: Vec<String> = psids.iter().map(|p| p.to_string()).collect();
    app.seed_leads(PAGE, &psids).await;
}
