//! Webhook verification, ingestion, consent tracking and encryption.

mod consent;
mod encryption;
mod webhook;

use optcast_tests::*;

const PAGE: &str = "1000000000000001";
const PAGE2: &str = "1000000000000002";

fn by_pk<'a>(items: &'a [Item], pk: &str) -> Vec<&'a Item> {
    items.iter().filter(|i| s(i, "pk") == pk).collect()
}

async fn subscriber(app: &TestApp, page: &str, psid: &str) -> Option<Item> {
    app.subscriber(page, psid).await
}

async fn consent_log(app: &TestApp, page: &str, psid: &str) -> Vec<Item> {
    let mut items = by_pk(&app.scan("ConsentLogTable").await, &format!("PAGE#{page}#SUB#{psid}"))
        .into_iter()
        .cloned()
        .collect::<Vec<_>>();
    items.sort_by_key(|i| s(i, "sk"));
    items
}
