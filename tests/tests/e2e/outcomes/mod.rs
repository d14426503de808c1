//! What each broadcast did: Meta's delivery and read watermarks and the
//! leads' unsubscribes, delivered as signed webhooks through the real ingest
//! path and attributed to the sends they cover; page protection; and why a
//! lead was or was not messaged.

mod protection;
mod recipients;
mod watermarks;

use optcast_tests::*;
use reqwest::Method;
use serde_json::{json, Value};

pub(crate) const PAGE: &str = "1000000000000003";

pub(crate) fn text(t: &str) -> Value {
    text_to(PAGE, t)
}

/// The fake Graph API's record of the send to `psid`: (message id, time).
pub(crate) fn sent_to(app: &TestApp, psid: &str) -> (String, i64) {
    let send = app
        .stack
        .graph
        .sends()
        .into_iter()
        .find(|s| s.recipient["id"] == psid)
        .expect("a send to the lead");
    (send.message_id, send.at_ms)
}

/// Meta's `message_deliveries` item for `psid`.
fn delivery(psid: &str, watermark: i64, mids: &[&str]) -> Value {
    json!({"sender":{"id":psid},"recipient":{"id":PAGE},"timestamp":watermark,
        "delivery":{"mids":mids,"watermark":watermark}})
}

/// Meta's `message_reads` item for `psid`.
fn read(psid: &str, watermark: i64) -> Value {
    json!({"sender":{"id":psid},"recipient":{"id":PAGE},"timestamp":watermark,"read":{"watermark":watermark}})
}

async fn outcomes(app: &TestApp, id: &str) -> Value {
    app.broadcast(id).await["outcomes"].clone()
}

pub(crate) async fn recipient(app: &TestApp, id: &str, psid: &str) -> (u16, Value) {
    app.api(Method::GET, &format!("/v1/broadcasts/{id}/recipients/{psid}"), None)
        .await
}

/// Sums one field over the broadcast's time series.
fn series_total(b: &Value, field: &str) -> i64 {
    b["timeseries"]["points"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[field].as_i64().unwrap())
        .sum()
}
