//! Export: what was ingested comes back decrypted, inline or (when large)
//! as an S3 link streamed in parts, which erasure deletes.

use optcast_tests::*;
use reqwest::Method;

use super::{erase, PAGE};

#[tokio::test]
async fn export_round_trips_what_was_ingested_decrypted() {
    let app = spawn_app().await;
    let texts = ["Bonjour, ça va ? 🙂", "second message", "STOP"];
    for (i, text) in texts.iter().enumerate() {
        app.say(PAGE, "2000000000000501", &format!("m_x{i}"), text).await;
    }
    let resp = app
        .http
        .get(app.url(&format!("/v1/export?page_id={PAGE}&psid=2000000000000501")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let doc: serde_json::Value = resp.json().await.unwrap();
    let got: Vec<&str> = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(got, texts);
    assert_eq!(doc["subscriber"]["status"], "unsubscribed");
    let history = doc["consent_history"].as_array().unwrap();
    assert_eq!(history.len(), 2);
    assert_eq!(history[1]["to"], "unsubscribed");
    assert_eq!(history[1]["proof"]["event_key"], "m_x2");
    assert_eq!(doc["psid"], "2000000000000501");

    let (status, _) = app
        .api(
            Method::GET,
            &format!("/v1/export?page_id={PAGE}&psid=2000000000000599"),
            None,
        )
        .await;
    assert_eq!(status, 404);
    let (status, _) = app.api(Method::GET, "/v1/export?page_id=bad%20id&psid=x", None).await;
    assert_eq!(status, 400);
    let anonymous = app
        .http
        .get(app.url(&format!("/v1/export?page_id={PAGE}&psid=2000000000000501")))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
}

#[tokio::test]
async fn a_large_export_goes_to_s3_as_a_link_and_erasure_deletes_it() {
    let app = spawn_app_with(|o| {
        o.overrides.insert("EXPORT_INLINE_LIMIT_BYTES".into(), "200".into());
    })
    .await;
    app.register_page(PAGE).await;
    for i in 0..3 {
        app.say(
            PAGE,
            "2000000000001001",
            &format!("m_b{i}"),
            &format!("message number {i}"),
        )
        .await;
    }
    let no_redirects = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirects
        .get(app.url(&format!("/v1/export?page_id={PAGE}&psid=2000000000001001")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 303);
    let link = resp.headers()["location"].to_str().unwrap().to_string();
    let answer: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(answer["url"], link);
    assert_eq!(answer["expires_in_s"], 900);
    // The link serves the whole document.
    let doc: serde_json::Value = app.http.get(&link).send().await.unwrap().json().await.unwrap();
    let texts: Vec<&str> = doc["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["body"]["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["message number 0", "message number 1", "message number 2"]);
    assert_eq!(
        answer["bytes"].as_u64().unwrap() as usize,
        serde_json::to_vec(&doc).unwrap().len()
    );
    // The object is named by digest, never by PSID.
    assert!(!link.contains("2000000000001001"));

    let id = erase(&app, "2000000000001001").await;
    let (_, status) = app.api(Method::GET, &format!("/v1/erasure/{id}"), None).await;
    assert_eq!(status["report"]["exports"], 1, "{status}");
    let exports = app.export_versions().await;
    assert!(exports.versions().is_empty() && exports.delete_markers().is_empty());
}

#[tokio::test]
async fn the_export_sink_streams_a_long_document_to_s3_in_parts() {
    use optcast_shared::export::{ExportSink, Finished, MIN_PART_BYTES};
    use std::io::Write;
    let app = spawn_app().await;
    let bucket = app.physical("DataBucket");
    let mut sink = ExportSink::new(app.s3.clone(), &bucket, "exports/test/sink.json", MIN_PART_BYTES);
    let chunk = vec![b'x'; 1024 * 1024];
    let mut peak = 0;
    for _ in 0..11 {
        sink.writer().write_all(&chunk).unwrap();
        peak = peak.max(sink.writer().len());
        sink.spill().await.unwrap();
    }
    // Memory stays bounded by one part (plus what one page adds).
    assert!(peak <= MIN_PART_BYTES + chunk.len(), "{peak}");
    let Finished::Stored { key, bytes, .. } = sink.finish(4 * 1024 * 1024).await.unwrap() else {
        panic!("an 11 MiB document is stored, not inline");
    };
    assert_eq!(bytes, 11 * 1024 * 1024);
    let stored = app.s3.get_object().bucket(&bucket).key(&key).send().await.unwrap();
    let body = stored.body.collect().await.unwrap().into_bytes();
    assert_eq!(body.len(), 11 * 1024 * 1024);
    assert!(body.iter().all(|b| *b == b'x'));
}

#[tokio::test]
async fn an_export_whose_upload_fails_at_its_end_leaves_no_parts_behind() {
    use optcast_local::counting_proxy::{routed_through, start_with_faults};
    use optcast_shared::export::{ExportSink, MIN_PART_BYTES};
    use std::io::Write;
    let app = spawn_app().await;
    let bucket = app.physical("DataBucket");
    let (proxy, _, faults) = start_with_faults(endpoint()).await.unwrap();
    let s3 = aws_sdk_s3::Client::new(&routed_through(&app.aws, &proxy));
    let key = "exports/test/failed.json";
    let mut sink = ExportSink::new(s3, &bucket, key, MIN_PART_BYTES);
    let chunk = vec![b'x'; 1024 * 1024];
    for _ in 0..6 {
        sink.writer().write_all(&chunk).unwrap();
        sink.spill().await.unwrap();
    }
    // The upload's start and its first part went through; its last part
    // and its completion (`PutObject`s, as IAM names them) now fail.
    faults.fail_next("s3:PutObject", 10);
    assert!(sink.finish(0).await.is_err());
    let uploads = app
        .s3
        .list_multipart_uploads()
        .bucket(&bucket)
        .prefix(key)
        .send()
        .await
        .unwrap();
    assert!(
        uploads.uploads().is_empty(),
        "parts of personal data left behind: {:?}",
        uploads.uploads()
    );
}

#[tokio::test]
async fn an_export_stored_while_its_subject_is_erased_does_not_outlive_the_erasure() {
    const SUBJECT: &str = "2000000000001077";
    // The export's document is held on its way to S3 while the erasure runs.
    let (faults, routed) = behind_faults("api").await;
    let app = spawn_app_with(|o| {
        o.overrides.insert("EXPORT_INLINE_LIMIT_BYTES".into(), "200".into());
        routed(o);
    })
    .await;
    app.register_page(PAGE).await;
    app.say(PAGE, SUBJECT, "m_race1", "words that must not outlive my erasure")
        .await;
    let mut held = faults.hold_next("s3:PutObject");
    let export = tokio::spawn(
        app.http
            .get(app.url(&format!("/v1/export?page_id={PAGE}&psid={SUBJECT}&redirect=false")))
            .bearer_auth(ADMIN_TOKEN)
            .send(),
    );
    tokio::time::timeout(std::time::Duration::from_secs(120), held.arrival())
        .await
        .expect("the export stores its document");
    let id = erase(&app, SUBJECT).await;
    let (_, status) = app.api(Method::GET, &format!("/v1/erasure/{id}"), None).await;
    assert_eq!(status["status"], "completed", "{status}");
    held.release();

    // The document stored after the erasure is deleted, and no link handed out.
    let answer = export.await.unwrap().unwrap();
    let code = answer.status();
    let body = answer.text().await.unwrap();
    assert_eq!(code, 404, "{body}");
    assert!(
        !body.contains("amazonaws") && !body.contains("X-Amz-Signature"),
        "{body}"
    );
    let exports = app.export_versions().await;
    assert!(
        exports.versions().is_empty() && exports.delete_markers().is_empty(),
        "{exports:?}"
    );
    app.stack.stop().await;
}
