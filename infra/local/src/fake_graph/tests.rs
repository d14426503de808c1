//! The fake Graph API held to Meta's behaviour: sends, scripted errors, the
//! rate limit and tokens, and `ids_for_pages` paging, tokens and proofs, up
//! to the real Graph client reading it over HTTP.

use super::*;

fn auth() -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert("authorization", "Bearer tok".parse().unwrap());
    h
}
const BODY: &[u8] = br#"{"recipient":{"id":"2000000000000001"},"messaging_type":"UPDATE","message":{"text":"hi"}}"#;

#[tokio::test]
async fn a_send_is_recorded_and_answered_like_meta() {
    let g = FakeGraph::new();
    let (status, headers, body) = g
        .handle("POST", "/v23.0/1000000000000001/messages", &auth(), BODY)
        .await;
    assert_eq!(status, 200);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["recipient_id"], "2000000000000001");
    assert!(headers.iter().any(|(k, _)| k == "x-business-use-case-usage"));
    assert_eq!(g.sends().len(), 1);
}

#[tokio::test]
async fn scripted_errors_use_metas_bodies_and_are_used_up() {
    let g = FakeGraph::new();
    g.script(Rule {
        recipient: Some("2000000000000001".into()),
        error: FakeError::Blocked,
        times: 1,
    });
    let (status, _, body) = g.handle("POST", "/1000000000000001/messages", &auth(), BODY).await;
    assert_eq!(status, 400);
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (v["error"]["code"].as_i64(), v["error"]["error_subcode"].as_i64()),
        (Some(551), Some(1545041))
    );
    assert_eq!(
        g.handle("POST", "/1000000000000001/messages", &auth(), BODY).await.0,
        200
    );
    assert_eq!(g.attempts(), 2);
}

#[tokio::test]
async fn the_rate_limit_answers_613() {
    let g = FakeGraph::new();
    g.set_rate_limit(Some(2));
    let mut codes = vec![];
    for _ in 0..3 {
        let (_, _, body) = g.handle("POST", "/1000000000000001/messages", &auth(), BODY).await;
        codes.push(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"].as_i64());
    }
    assert_eq!(codes, [None, None, Some(613)]);
}

#[tokio::test]
async fn a_missing_or_wrong_token_answers_190() {
    let g = FakeGraph::new();
    let (_, _, body) = g
        .handle("POST", "/1000000000000001/messages", &http::HeaderMap::new(), BODY)
        .await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], 190);
    g.set_valid_tokens(Some(vec!["other".into()]));
    let (_, _, body) = g.handle("POST", "/1000000000000001/messages", &auth(), BODY).await;
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["error"]["code"], 190);
    assert!(g.sends().is_empty());
}

const PROOF_FOR_1234: &str = "18869a7ed24934964f3ac7c2c7a44b4629bb208e487e7a6112e8667cece089db";

fn host() -> http::HeaderMap {
    let mut h = http::HeaderMap::new();
    h.insert("host", "127.0.0.1:9000".parse().unwrap());
    h
}

async fn ids(g: &FakeGraph, path_and_query: &str) -> (u16, Value) {
    let (status, _, body) = g.handle("GET", path_and_query, &host(), b"").await;
    (status, serde_json::from_str(&body).unwrap())
}

#[tokio::test]
async fn ids_for_pages_pages_two_at_a_time_with_a_full_next_url() {
    let g = FakeGraph::new();
    g.set_app_secret("app-secret");
    for (page, psid) in [
        ("111", "2000000000000001"),
        ("222", "2000000000000002"),
        ("333", "2000000000000003"),
    ] {
        g.map_asid("42", page, psid);
    }
    let query = format!("access_token=1234%7Capp-secret&appsecret_proof={PROOF_FOR_1234}");
    let (status, v) = ids(&g, &format!("/v23.0/42/ids_for_pages?{query}")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["data"],
        json!([{"id": "2000000000000001", "page": {"id": "111", "name": "Fake Page 111"}}, {"id": "2000000000000002", "page": {"id": "222", "name": "Fake Page 222"}}])
    );
    let next = v["paging"]["next"].as_str().unwrap();
    let rest = next.strip_prefix("http://127.0.0.1:9000/fake-graph").unwrap();
    assert!(
        rest.starts_with("/v23.0/42/ids_for_pages?") && rest.contains(PROOF_FOR_1234),
        "{next}"
    );
    let (status, v) = ids(&g, rest).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(
        v["data"],
        json!([{"id": "2000000000000003", "page": {"id": "333", "name": "Fake Page 333"}}])
    );
    assert!(v["paging"]["next"].is_null());
    // Without the version prefix, and without a configured secret any proof passes.
    let g2 = FakeGraph::new();
    g2.map_asid("42", "111", "2000000000000001");
    let (status, v) = ids(&g2, "/42/ids_for_pages?access_token=1%7Cs&appsecret_proof=x").await;
    assert_eq!((status, v["data"][0]["id"].as_str()), (200, Some("2000000000000001")));
}

#[tokio::test]
async fn ids_for_pages_refuses_bad_tokens_with_190_and_bad_proofs_with_100() {
    let g = FakeGraph::new();
    g.set_app_secret("app-secret");
    g.map_asid("42", "111", "2000000000000001");
    for query in [
        format!("appsecret_proof={PROOF_FOR_1234}"),
        format!("access_token=app-secret&appsecret_proof={PROOF_FOR_1234}"),
        format!("access_token=%7Capp-secret&appsecret_proof={PROOF_FOR_1234}"),
        format!("access_token=1234%7Cwrong&appsecret_proof={PROOF_FOR_1234}"),
    ] {
        let (status, v) = ids(&g, &format!("/42/ids_for_pages?{query}")).await;
        assert_eq!((status, v["error"]["code"].as_i64()), (400, Some(190)), "{query}");
        assert_eq!(v["error"]["type"], "OAuthException");
    }
    for query in [
        "access_token=1234%7Capp-secret".to_string(),
        format!("access_token=1234%7Capp-secret&appsecret_proof={}", "0".repeat(64)),
        // The right proof for another token.
        format!("access_token=999%7Capp-secret&appsecret_proof={PROOF_FOR_1234}"),
    ] {
        let (status, v) = ids(&g, &format!("/42/ids_for_pages?{query}")).await;
        assert_eq!((status, v["error"]["code"].as_i64()), (400, Some(100)), "{query}");
        assert_eq!(v["error"]["type"], "GraphMethodException");
    }
}

#[tokio::test]
async fn ids_for_pages_answers_empty_data_for_an_unknown_asid_and_100_for_a_malformed_one() {
    let g = FakeGraph::new();
    let q = "access_token=1%7Cs&appsecret_proof=x";
    let (status, v) = ids(&g, &format!("/v23.0/77/ids_for_pages?{q}")).await;
    assert_eq!((status, v), (200, json!({"data": []})));
    let (status, v) = ids(&g, &format!("/v23.0/me/ids_for_pages?{q}")).await;
    assert_eq!(
        (
            status,
            v["error"]["code"].as_i64(),
            v["error"]["error_subcode"].as_i64()
        ),
        (400, Some(100), Some(33))
    );
    g.map_asid("77", "111", "2000000000000001");
    let (status, v) = ids(&g, &format!("/v23.0/77/ids_for_pages?{q}&after=9")).await;
    assert_eq!((status, v["error"]["code"].as_i64()), (400, Some(100)));
}

#[tokio::test]
async fn asid_mappings_can_be_posted_to_the_control_endpoint() {
    let g = FakeGraph::new();
    let body = br#"{"asid":"42","page_id":"111","psid":"2000000000000001"}"#;
    assert_eq!(g.handle("POST", "/_fake/asids", &host(), body).await.0, 200);
    assert_eq!(g.handle("POST", "/_fake/asids", &host(), b"{}").await.0, 400);
    let (_, v) = ids(&g, "/42/ids_for_pages?access_token=1%7Cs&appsecret_proof=x").await;
    assert_eq!(v["data"][0]["id"], "2000000000000001");
}

/// The real client against the fake over HTTP, mounted like the local
/// stack mounts it but with the query passed through.
#[tokio::test]
async fn the_graph_client_reads_every_page_from_the_fake() {
    use http_body_util::{BodyExt, Full};
    let g = FakeGraph::new();
    g.set_app_secret("app-secret");
    for (page, psid) in [
        ("111", "2000000000000001"),
        ("222", "2000000000000002"),
        ("333", "2000000000000003"),
    ] {
        g.map_asid("42", page, psid);
    }
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let fake = g.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let fake = fake.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: hyper::Request<hyper::body::Incoming>| {
                    let fake = fake.clone();
                    async move {
                        let (parts, body) = req.into_parts();
                        let bytes = body.collect().await.map(|b| b.to_bytes()).unwrap_or_default();
                        let pq = parts.uri.path_and_query().map(|p| p.as_str()).unwrap_or("/");
                        let rest = pq.strip_prefix("/fake-graph").unwrap_or(pq);
                        let (status, _, body) = fake.handle(parts.method.as_str(), rest, &parts.headers, &bytes).await;
                        let resp = hyper::Response::builder()
                            .status(status)
                            .body(Full::new(bytes::Bytes::from(body)));
                        Ok::<_, std::convert::Infallible>(resp.unwrap())
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    let client = optcast_shared::graph::GraphClient::new(format!("http://{addr}/fake-graph/v23.0")).expect("a client");
    // Typed by `ids_for_pages` (this crate does not depend on secrecy).
    let secret = String::from("app-secret").into();
    let wrong = String::from("wrong").into();
    let got = client.ids_for_pages("42", "1234", &secret).await.unwrap();
    let got: Vec<(&str, &str)> = got.iter().map(|(p, s)| (p.as_str(), s.as_str())).collect();
    assert_eq!(
        got,
        [
            ("111", "2000000000000001"),
            ("222", "2000000000000002"),
            ("333", "2000000000000003")
        ]
    );
    let e = client.ids_for_pages("42", "1234", &wrong).await.unwrap_err();
    assert_eq!(e.code, Some(190));
    assert!(client.ids_for_pages("77", "1234", &secret).await.unwrap().is_empty());
}
