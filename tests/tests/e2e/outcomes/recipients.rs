//! The recipient route: why each lead was or was not messaged, and who may
//! ask.

use super::{delivery, recipient, sent_to, text, PAGE};
use optcast_local::fake_graph::{FakeError, Rule};
use optcast_tests::*;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn the_recipient_route_says_why_each_lead_was_or_was_not_messaged() {
    let mut app = spawn_app_with(|o| o.held_functions = vec!["sender".into()]).await;
    app.register_page(PAGE).await;
    let all = leads("2104", 5);
    let [sent, stopped, meta_refused, blocked, _] = [&all[0], &all[1], &all[2], &all[3], &all[4]];
    app.seed_leads(PAGE, &all[..4]).await;
    // Wrote three days ago: outside the 24-hour window, no token.
    let t = optcast_shared::http::now_ms();
    let quiet = &all[4];
    app.say_at(
        PAGE,
        quiet,
        "m_r_quiet",
        "hello",
        t - 3 * optcast_shared::retention::DAY_MS,
    )
    .await;
    // Granted a marketing token, but the page's region is not one where
    // Meta honours them.
    let token_lead = "2104000000000099";
    app.say_at(
        PAGE,
        token_lead,
        "m_r_tok",
        "hello",
        t - 3 * optcast_shared::retention::DAY_MS,
    )
    .await;
    app.post_items(
        "page",
        PAGE,
        vec![json!({"sender":{"id":token_lead},"recipient":{"id":PAGE},"timestamp":t - 3 * optcast_shared::retention::DAY_MS + 1,
            "optin":{"type":"notification_messages","notification_messages_token":"TOKEN-R"}})],
    )
    .await;
    eventually("token stored", || async {
        app.subscriber(PAGE, token_lead)
            .await
            .is_some_and(|i| i.contains_key("marketing_token"))
    })
    .await;
    app.stack.graph.script(Rule {
        recipient: Some(meta_refused.clone()),
        error: FakeError::OutsideWindow,
        times: 1,
    });
    app.stack.graph.script(Rule {
        recipient: Some(blocked.clone()),
        error: FakeError::Blocked,
        times: 1,
    });
    let id = app.create_broadcast(text("Why")).await;
    eventually("planned", || async {
        app.broadcast(&id).await["counts"]["queued"] == 6
    })
    .await;
    app.say(PAGE, stopped, "m_r_stop", "STOP").await;
    app.stack.resume("sender");
    app.wait_state(&id, "done").await;

    let (status, r) = recipient(&app, &id, sent).await;
    assert_eq!((status, r["state"].as_str()), (200, Some("sent")), "{r}");
    assert_eq!(r["mid"], sent_to(&app, sent).0);
    assert!(r["sent_at_ms"].is_i64() && r["reason"].is_null());
    for (psid, state, reason) in [
        (stopped.as_str(), "skipped_unsubscribed", "unsubscribed"),
        (quiet.as_str(), "skipped_policy", "outside_window"),
        (token_lead, "skipped_policy", "marketing_unavailable"),
        (meta_refused.as_str(), "skipped_policy", "meta_policy"),
        (blocked.as_str(), "failed", "blocked"),
    ] {
        let (status, r) = recipient(&app, &id, psid).await;
        assert_eq!(
            (status, r["state"].as_str(), r["reason"].as_str()),
            (200, Some(state), Some(reason)),
            "{psid}: {r}"
        );
        assert!(r["mid"].is_null(), "{r}");
    }
    let (status, r) = recipient(&app, &id, "2104000000000777").await;
    assert_eq!(
        (status, r["error"]["code"].as_str()),
        (404, Some("not_in_audience")),
        "{r}"
    );
    let (status, r) = recipient(&app, &id, "12ab").await;
    assert_eq!(
        (status, r["error"]["code"].as_str()),
        (400, Some("invalid_psid")),
        "{r}"
    );
    let (status, _) = recipient(&app, "ffff", sent).await;
    assert_eq!(status, 404);
    let (status, _) = app
        .api(Method::POST, &format!("/v1/broadcasts/{id}/recipients/{sent}"), None)
        .await;
    assert_eq!(status, 405);
    app.stack.stop().await;
}

#[tokio::test]
async fn the_recipient_route_needs_broadcasts_read_and_the_broadcasts_page() {
    use sha2::{Digest, Sha256};
    let other_page = "1000000000000004";
    let sha = |t: &str| hex::encode(Sha256::digest(t.as_bytes()));
    let tokens = json!({"tokens": [
        {"name": "reader", "token_sha256": sha("reader-a"), "pages": [PAGE], "scopes": ["broadcasts:read"]},
        {"name": "leads", "token_sha256": sha("leads-a"), "pages": [PAGE], "scopes": ["subscribers:read"]},
    ]});
    let app = spawn_app_with(|o| {
        o.overrides.insert("OPTCAST_API_TOKENS".into(), tokens.to_string());
    })
    .await;
    app.register_page(PAGE).await;
    app.register_page(other_page).await;
    let mine = app.create_broadcast(text("Mine")).await;
    let theirs = app
        .create_broadcast(json!({"page_id": other_page, "message": {"text": "Theirs"}}))
        .await;
    // Nothing to send (no leads): done at once, so "not in the audience" is final.
    app.wait_state(&mine, "done").await;
    let lead = "2105000000000001";
    let get = |token: &'static str, id: String| {
        let app = &app;
        async move {
            app.api_as(
                token,
                Method::GET,
                &format!("/v1/broadcasts/{id}/recipients/{lead}"),
                None,
            )
            .await
        }
    };
    let (status, out) = get("reader-a", mine.clone()).await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (404, Some("not_in_audience")),
        "{out}"
    );
    let (status, out) = get("reader-a", theirs).await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (404, Some("not_found")),
        "{out}"
    );
    let (status, out) = get("leads-a", mine).await;
    assert_eq!(
        (status, out["error"]["code"].as_str()),
        (403, Some("missing_scope")),
        "{out}"
    );
    app.stack.stop().await;
}

/// The export's deliveries hold what the lead's delivery record holds, as
/// the recipient route shows it: when Meta took the send and its receipts,
/// and why a send was skipped. It listed the state, time and message id
/// only, leaving receipts and reasons out of "everything held on a lead".
#[tokio::test]
async fn the_export_carries_each_send_record_whole_receipts_and_reasons_included() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let (sent, quiet) = ("2105000000000001", "2105000000000002");
    app.seed_leads(PAGE, &[sent.to_string()]).await;
    let t = optcast_shared::http::now_ms();
    app.say_at(
        PAGE,
        quiet,
        "m_x_quiet",
        "hello",
        t - 3 * optcast_shared::retention::DAY_MS,
    )
    .await;
    let id = app.create_broadcast(text("Export me")).await;
    app.wait_state(&id, "done").await;
    let (mid, at) = sent_to(&app, sent);
    app.post_items("page", PAGE, vec![delivery(sent, at + 1_000, &[&mid])])
        .await;
    eventually("delivery receipt recorded", || async {
        recipient(&app, &id, sent).await.1["delivered_at_ms"].is_i64()
    })
    .await;
    let (_, shown) = recipient(&app, &id, sent).await;
    assert!(shown["sent_at_ms"].is_i64(), "{shown}");
    let app_ref = &app;
    let export = |psid: &'static str| async move {
        let (status, doc) = app_ref
            .api(Method::GET, &format!("/v1/export?page_id={PAGE}&psid={psid}"), None)
            .await;
        assert_eq!(status, 200, "{doc}");
        doc["deliveries"][0].clone()
    };
    let record = export(sent).await;
    assert_eq!(record["broadcast_id"], id.as_str(), "{record}");
    assert_eq!(record["message_id"], mid.as_str(), "{record}");
    assert_eq!(record["delivered_at_ms"], shown["delivered_at_ms"], "{record}");
    assert_eq!(record["sent_at_ms"], shown["sent_at_ms"], "{record}");
    let skipped = export(quiet).await;
    assert_eq!(
        (skipped["state"].as_str(), skipped["reason"].as_str()),
        (Some("skipped_policy"), Some("outside_window")),
        "{skipped}"
    );
    app.stack.stop().await;
}
