//! Erasure and the retention sweep's checkpoints. A checkpoint is the key of
//! the last record the sweep deleted, so it may name a lead: erasing that
//! lead drops the checkpoints naming them, and only those (the sweep then
//! starts that partition over, where what it deleted is gone already).

use aws_sdk_dynamodb::types::AttributeValue;
use optcast_shared::retention::DAY_MS;
use optcast_tests::*;

const PAGE: &str = "1000000000000001";

fn names(checkpoint: &Item, psid: &str) -> bool {
    format!("{:?}", checkpoint.get("cursor")).contains(psid)
}

#[tokio::test]
async fn erasing_a_lead_drops_the_sweep_checkpoints_that_name_them_and_keeps_the_others() {
    // A budget of one delete per run: the first run stops on the lead's record.
    let app = spawn_app_with(|o| {
        o.overrides.insert("SWEEP_MAX_DELETES_PER_RUN".into(), "1".into());
    })
    .await;
    app.register_page(PAGE).await; // retention 30 days
    let (erased, kept) = ("2999999999999081", "2999999999999082");
    let t = optcast_shared::http::now_ms();
    for i in 0..2 {
        app.say_at(PAGE, erased, &format!("m_cp{i}"), "old words", t - 100 * DAY_MS)
            .await;
    }
    eventually("both ingested", || async { app.scan("MessagesTable").await.len() == 2 }).await;
    let first = app.invoke_at("sweeper", t + 20 * DAY_MS).await;
    assert_eq!(first["deleted"]["messages"], 1, "{first}");
    let checkpoints = || async {
        app.scan("PrivacyTable")
            .await
            .into_iter()
            .filter(|i| s(i, "pk").starts_with("SWEEP#"))
            .collect::<Vec<Item>>()
    };
    let theirs = checkpoints()
        .await
        .into_iter()
        .find(|c| names(c, erased))
        .expect("the sweep stopped on the lead's record");
    // Another lead's checkpoint on the same page, in another partition, as
    // the sweep writes them.
    let pk = s(&theirs, "pk");
    let (prefix, shard) = pk.rsplit_once('#').unwrap();
    let other_shard = (shard.parse::<u32>().unwrap() + 1) % 4;
    let mut other = theirs.clone();
    other.insert("pk".into(), AttributeValue::S(format!("{prefix}#{other_shard}")));
    let cursor = theirs["cursor"]
        .as_m()
        .unwrap()
        .iter()
        .map(|(k, v)| {
            let v = match v.as_s() {
                Ok(text) => AttributeValue::S(text.replace(erased, kept)),
                Err(_) => v.clone(),
            };
            (k.clone(), v)
        })
        .collect();
    other.insert("cursor".into(), AttributeValue::M(cursor));
    app.ddb
        .put_item()
        .table_name(app.physical("PrivacyTable"))
        .set_item(Some(other.clone()))
        .send()
        .await
        .unwrap();

    app.erase(PAGE, erased).await;
    let left = checkpoints().await;
    assert!(!left.iter().any(|c| names(c, erased)), "{left:?}");
    assert_eq!(left, vec![other], "the other lead's checkpoint stays as it was");
}
