//! The local stack's own measuring tools.

use std::collections::{BTreeMap, BTreeSet};

use optcast_local::counting_proxy;
use optcast_tests::*;

/// The benchmarks count AWS requests per function through a proxy; with
/// `AWS_ENDPOINT_URL` in the environment (as `make test` and `make dev` set
/// it) the SDK would otherwise bypass the proxy and every count would be 0.
#[tokio::test]
async fn a_config_routed_through_the_counting_proxy_is_counted_even_with_an_endpoint_in_the_environment() {
    let aws = optcast_shared::config::aws().await;
    let (url, counts) = counting_proxy::start(endpoint()).await.unwrap();
    let routed = counting_proxy::routed_through(&aws, &url);
    aws_sdk_dynamodb::Client::new(&routed)
        .list_tables()
        .send()
        .await
        .unwrap();
    aws_sdk_sqs::Client::new(&routed).list_queues().send().await.unwrap();
    aws_sdk_dynamodb::Client::new(&routed)
        .list_tables()
        .send()
        .await
        .unwrap();
    let by_service = counts.by_service();
    assert_eq!(by_service.get("dynamodb"), Some(&2), "{by_service:?}");
    assert_eq!(by_service.get("sqs"), Some(&1), "{by_service:?}");
    assert_eq!(counts.snapshot().get("dynamodb:ListTables"), Some(&2));
}

/// The IAM actions a function's policies in `template.yaml` allow (resources
/// aside), by function folder.
fn allowed_actions() -> BTreeMap<String, BTreeSet<String>> {
    let template = optcast_local::template::Template::load(std::path::Path::new(&template_path())).unwrap();
    let mut out = BTreeMap::new();
    for (_, f) in template.of_type("AWS::Serverless::Function") {
        let folder = f.properties["CodeUri"]
            .as_str()
            .unwrap()
            .trim_start_matches("functions/");
        let actions: &mut BTreeSet<String> = out.entry(folder.to_string()).or_default();
        for policy in f.properties["Policies"].as_array().into_iter().flatten() {
            for statement in policy["Statement"].as_array().into_iter().flatten() {
                assert_eq!(statement["Effect"], "Allow", "{statement}");
                match &statement["Action"] {
                    serde_json::Value::String(a) => {
                        actions.insert(a.clone());
                    }
                    serde_json::Value::Array(list) => {
                        actions.extend(list.iter().map(|a| a.as_str().unwrap().to_string()));
                    }
                    other => panic!("unexpected Action {other}"),
                }
            }
        }
    }
    out
}

/// The IAM action that authorises an operation seen on the wire, or None
/// where IAM checks the parts instead (a transaction's items).
fn iam_action(op: &str) -> Option<String> {
    let (service, name) = op.split_once(':')?;
    let name = match (service, name) {
        ("dynamodb", "TransactWriteItems" | "TransactGetItems") => return None,
        ("sqs", batch) if batch.ends_with("Batch") => batch.trim_end_matches("Batch"),
        (_, name) => name,
    };
    Some(format!("{service}:{name}"))
}

/// The emulator does not enforce IAM; AWS does. So every function runs a
/// realistic day (ingest with a claim-checked large delivery, an edit, an
/// unsend, a delivery split into chunks, a quarantined item replayed, a broadcast, a
/// large export, an erasure, a sweep that also purges an unsubscribed lead,
/// the scheduler) with its AWS calls
/// counted on the wire, and each call must be one its own policy allows.
#[tokio::test]
async fn every_aws_call_a_function_makes_is_allowed_by_its_own_policy_in_the_template() {
    let allowed = allowed_actions();
    let aws = aws_at(&endpoint()).await;
    let mut counts = BTreeMap::new();
    let mut routed = BTreeMap::new();
    for function in allowed.keys() {
        let (url, c) = counting_proxy::start(endpoint()).await.unwrap();
        routed.insert(function.clone(), counting_proxy::routed_through(&aws, &url));
        counts.insert(function.clone(), c);
    }
    let app = spawn_app_with(|o| {
        o.function_aws = routed;
        o.overrides.insert("EXPORT_INLINE_LIMIT_BYTES".into(), "200".into());
    })
    .await;
    const PAGE: &str = "1000000000000001";
    const LEAD: &str = "2000000000000001";
    app.register_page(PAGE).await;
    // The pages listed (Scan) and read (GetItem); a change without the token
    // (a conditional UpdateItem).
    assert_eq!(app.api(reqwest::Method::GET, "/v1/pages", None).await.0, 200);
    let (status, out) = app
        .api(
            reqwest::Method::PUT,
            &format!("/v1/pages/{PAGE}"),
            Some(serde_json::json!({"region": "EU"})),
        )
        .await;
    assert_eq!(status, 200, "{out}");
    app.say(PAGE, LEAD, "m_iam1", "hello there").await;
    // Over the SQS message limit: the webhook parks it in S3, ingest reads it.
    app.say(PAGE, LEAD, "m_iam2", &"x".repeat(300 * 1024)).await;
    // An edit finds its message (Query) and replaces it; an unsend deletes it;
    // a delivery of 120 items goes to the chunk queue; an unknown item goes to
    // the quarantine, which the API lists and replays.
    let now = optcast_shared::http::now_ms();
    let mut items = vec![
        serde_json::json!({"sender":{"id":LEAD},"recipient":{"id":PAGE},"timestamp":now,"message_edit":{"mid":"m_iam1","text":"hello","num_edit":1}}),
        serde_json::json!({"sender":{"id":LEAD},"recipient":{"id":PAGE},"timestamp":now + 1,"message":{"mid":"m_iam1","is_deleted":true}}),
        serde_json::json!({"sender":{"id":LEAD},"recipient":{"id":PAGE},"timestamp":now + 2,"brand_new_event":{"x":1}}),
    ];
    items.extend((0..120).map(|i| {
        serde_json::json!({"sender":{"id":format!("2100000000{i:06}")},"recipient":{"id":PAGE},"timestamp":now + 3,"read":{"watermark":now}})
    }));
    app.post_items("page", PAGE, items).await;
    let quarantined = app.wait_quarantined(1).await;
    app.drain_ingest().await;
    let (status, _) = app.api(reqwest::Method::GET, "/v1/quarantine", None).await;
    assert_eq!(status, 200);
    let (status, _) = app
        .api(
            reqwest::Method::POST,
            &format!("/v1/quarantine/{}/replay", quarantined[0].id),
            None,
        )
        .await;
    assert_eq!(status, 202);
    app.drain_ingest().await;
    let id = app
        .create_broadcast(serde_json::json!({"page_id": PAGE, "message": {"text": "Policy check"}}))
        .await;
    app.wait_state(&id, "done").await;
    assert_eq!(app.sends_to(LEAD), 1);
    let export = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
        .get(app.url(&format!("/v1/export?page_id={PAGE}&psid={LEAD}")))
        .bearer_auth(ADMIN_TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(export.status(), 303, "a large export goes through S3");
    let request = app.erase(PAGE, LEAD).await;
    assert_eq!(
        app.api(reqwest::Method::GET, &format!("/v1/erasure/{request}"), None)
            .await
            .1["status"],
        "completed"
    );
    // A lead who unsubscribed: the sweep purges them, long after, as an
    // erasure (their records, exports, quarantine, the sweep's checkpoints).
    const GONE: &str = "2000000000000002";
    app.say(PAGE, GONE, "m_iam_hi", "hello").await;
    app.say(PAGE, GONE, "m_iam_stop", "STOP").await;
    let gone = format!("/v1/pages/{PAGE}/subscribers/{GONE}");
    eventually("unsubscribed", || async {
        app.api(reqwest::Method::GET, &gone, None).await.1["status"] == "unsubscribed"
    })
    .await;
    let now = optcast_shared::http::now_ms();
    app.invoke("scheduler", &scheduled_event(now)).await;
    app.invoke_at("sweeper", now + 3_000 * optcast_shared::retention::DAY_MS)
        .await;
    assert_eq!(
        app.api(reqwest::Method::GET, &gone, None).await.0,
        404,
        "the sweep purged the unsubscribed lead"
    );

    let mut missing = Vec::new();
    for (function, c) in &counts {
        let used = c.snapshot();
        for op in used.keys().filter(|op| !op.starts_with("emulator_5xx")) {
            let Some(action) = iam_action(op) else { continue };
            if !allowed[function].contains(&action) {
                missing.push(format!("{function} calls {op}, its policy lacks {action}"));
            }
        }
    }
    assert!(missing.is_empty(), "{missing:#?}");
    // The run exercised every function that touches AWS.
    for function in [
        "webhook",
        "ingest",
        "api",
        "planner",
        "sender",
        "scheduler",
        "eraser",
        "sweeper",
    ] {
        assert!(!counts[function].snapshot().is_empty(), "{function} made no AWS call");
    }
    app.stack.stop().await;
}

#[tokio::test]
async fn the_invoke_api_runs_the_readmes_sweep_event_and_names_the_field_a_bare_event_lacks() {
    let app = spawn_app().await;
    let invoke = |body: &'static str| {
        app.http
            .post(app.url("/2015-03-31/functions/sweeper/invocations"))
            .body(body)
            .send()
    };
    // The README's command: an EventBridge scheduled event, as Lambda gets it.
    let readme = r#"{"detail-type":"Scheduled Event","source":"aws.events","time":"2026-12-01T00:00:00Z","detail":{}}"#;
    let resp = invoke(readme).await.unwrap();
    assert_eq!(resp.status(), 200);
    let report: serde_json::Value = resp.json().await.unwrap();
    assert!(report.get("errorType").is_none(), "{report}");
    // The shape the issue tried: Lambda's runtime would refuse it too; the
    // answer says which field is missing.
    let resp = invoke(r#"{"time":"2026-12-01T00:00:00Z","detail":{}}"#).await.unwrap();
    assert_eq!(resp.status(), 400);
    let body: serde_json::Value = resp.json().await.unwrap();
    let message = body["error"]["message"].as_str().unwrap_or_default();
    assert!(message.contains("missing field `detail-type`"), "{body}");
    app.stack.stop().await;
}

/// AWS refuses a call a role does not allow; the local stack must too, or a
/// missing permission would pass every test and fail the first deployment.
/// The webhook may write claim checks and the privacy table, never the
/// subscribers table or the exports.
#[tokio::test]
async fn a_call_the_functions_role_does_not_allow_is_refused_as_aws_refuses_it() {
    let app = spawn_app().await;
    let (url, _) = counting_proxy::start(endpoint()).await.unwrap();
    let webhook = optcast_local::iam::signing_as(
        &counting_proxy::routed_through(&app.aws, &url),
        &app.stack.provisioned.prefix,
        "webhook",
    );
    let ddb = aws_sdk_dynamodb::Client::new(&webhook);
    let item = |id: &str| {
        BTreeMap::from([(
            "pk".to_string(),
            aws_sdk_dynamodb::types::AttributeValue::S(id.to_string()),
        )])
    };
    let err = ddb
        .put_item()
        .table_name(app.physical("SubscribersTable"))
        .set_item(Some(item("PAGE#1").into_iter().collect()))
        .send()
        .await
        .expect_err("the webhook's role cannot write subscribers");
    assert_eq!(
        err.as_service_error().and_then(|e| e.meta().code()),
        Some("AccessDeniedException")
    );
    let s3 = aws_sdk_s3::Client::new(&webhook);
    let bucket = app.physical("DataBucket");
    let err = s3
        .put_object()
        .bucket(&bucket)
        .key("exports/forged.json")
        .body(b"{}".to_vec().into())
        .send()
        .await
        .expect_err("nor put an export");
    assert_eq!(
        err.as_service_error().and_then(|e| e.meta().code()),
        Some("AccessDenied")
    );
    // What it may do passes: a claim check.
    s3.put_object()
        .bucket(&bucket)
        .key("claims/allowed.json")
        .body(b"{}".to_vec().into())
        .send()
        .await
        .expect("the webhook writes claim checks");
    let refused = app.stack.iam.take_denied();
    assert_eq!(refused.len(), 2, "{refused:#?}");
    assert!(
        refused[0].starts_with("webhook: dynamodb:PutItem on arn:aws:dynamodb:"),
        "{refused:#?}"
    );
    assert!(
        refused[1].starts_with("webhook: s3:PutObject on arn:aws:s3:::"),
        "{refused:#?}"
    );
    assert!(refused[1].ends_with("/exports/forged.json"), "{refused:#?}");
}
