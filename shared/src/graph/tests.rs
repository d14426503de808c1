use super::*;
use ErrorClass::*;

#[test]
fn every_documented_code_is_classified() {
    let cases: &[(u16, Option<i64>, Option<i64>, ErrorClass)] = &[
        (400, Some(1200), None, Transient),
        (500, Some(2), None, Transient),
        (400, Some(4), None, RateLimited),
        (400, Some(4), Some(2018022), RateLimited),
        (400, Some(613), None, RateLimited),
        (400, Some(80006), None, RateLimited),
        (400, Some(17), None, RateLimited),
        (400, Some(32), None, RateLimited),
        (400, Some(10), Some(2018278), PolicyBlocked),
        (400, Some(10), Some(2018065), Unreachable),
        (400, Some(10), Some(2018108), Unreachable),
        (400, Some(551), Some(1545041), Unreachable),
        (400, Some(551), None, Unreachable),
        (400, Some(200), Some(1545041), Unreachable),
        (400, Some(100), Some(2018001), Unreachable),
        (400, Some(100), Some(2018109), Invalid),
        (400, Some(100), Some(2018034), Invalid),
        (400, Some(100), None, Invalid),
        (400, Some(190), None, InvalidToken),
        (400, Some(190), Some(463), InvalidToken),
        (400, Some(200), None, Permission),
        (400, Some(10), Some(2018028), Permission),
        (400, Some(230), None, Permission),
        (400, Some(368), None, Abusive),
        (400, Some(4), Some(2018354), PolicyBlocked),
        (503, None, None, Transient),
        (500, None, None, Transient),
        // A gateway's own answer, after which Meta may have sent it.
        (502, None, None, OutcomeUnknown),
        (504, None, None, OutcomeUnknown),
        // Meta's own temporary error through a gateway status is Meta's.
        (502, Some(2), None, Transient),
        (0, None, None, Transient),
        (429, None, None, RateLimited),
        (400, None, None, Invalid),
    ];
    for &(status, code, sub, expected) in cases {
        assert_eq!(classify(status, code, sub), expected, "{status} {code:?}/{sub:?}");
    }
    assert!(RateLimited.is_retryable() && Transient.is_retryable());
    assert!(!PolicyBlocked.is_retryable() && !Unreachable.is_retryable() && !InvalidToken.is_retryable());
}

#[test]
fn meta_error_bodies_are_parsed() {
    let e = parse_error(
        400,
        r#"{"error":{"message":"(#551) This person isn't available right now.","type":"OAuthException","code":551,"error_subcode":1545041,"fbtrace_id":"A1"}}"#,
    );
    assert_eq!((e.code, e.subcode, e.class), (Some(551), Some(1545041), Unreachable));
    // A gateway's page, not Meta's: a 503 refused it, a 502 may have
    // passed it on.
    let e = parse_error(503, "<html>service unavailable</html>");
    assert_eq!(e.class, Transient);
    let e = parse_error(502, "<html>bad gateway</html>");
    assert_eq!(e.class, OutcomeUnknown);
}

#[test]
fn send_bodies_match_the_send_api() {
    let req = SendRequest {
        recipient: Recipient::Id(Psid::parse("123").unwrap()),
        messaging_type: Some(MessagingType::Update),
        tag: None,
        message: json!({"text": "hi"}),
    };
    assert_eq!(
        req.to_json(),
        json!({"recipient": {"id": "123"}, "messaging_type": "UPDATE", "message": {"text": "hi"}})
    );
    let req = SendRequest {
        recipient: Recipient::NotificationToken("T".into()),
        messaging_type: None,
        tag: None,
        message: json!({"text": "hi"}),
    };
    assert_eq!(
        req.to_json(),
        json!({"recipient": {"notification_messages_token": "T"}, "message": {"text": "hi"}})
    );
}

#[test]
fn appsecret_proof_matches_a_known_vector() {
    // Python: hmac.new(b"app-secret", b"1234|app-secret", hashlib.sha256).hexdigest()
    assert_eq!(
        appsecret_proof("1234|app-secret", "app-secret"),
        "18869a7ed24934964f3ac7c2c7a44b4629bb208e487e7a6112e8667cece089db"
    );
}

#[test]
fn credentials_replace_any_in_next_and_keep_the_cursor() {
    let next =
        reqwest::Url::parse("https://graph.facebook.com/v23.0/1/ids_for_pages?access_token=old&limit=25&after=QVFI")
            .unwrap();
    let url = with_credentials(&next, "1|s", "p");
    assert_eq!(
        url.query(),
        Some("limit=25&after=QVFI&access_token=1%7Cs&appsecret_proof=p")
    );
}

/// A plain HTTP/1.1 server on a thread: each connection gets the next
/// canned answer; request lines (`GET /path?query HTTP/1.1`) are sent back.
fn canned_server(listener: std::net::TcpListener, answers: Vec<(u16, String)>) -> std::sync::mpsc::Receiver<String> {
    use std::io::{Read, Write};
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for (status, body) in answers {
            let Ok((mut conn, _)) = listener.accept() else { return };
            let mut head = Vec::new();
            let mut buf = [0u8; 1024];
            while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                match conn.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => head.extend_from_slice(&buf[..n]),
                }
            }
            let line = String::from_utf8_lossy(&head).lines().next().unwrap_or("").to_string();
            let _ = tx.send(line);
            let _ = write!(
                conn,
                "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    rx
}

fn secret() -> SecretString {
    SecretString::from("app-secret")
}

#[tokio::test]
async fn ids_for_pages_follows_next_with_the_proof_on_every_call() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let page1 = json!({
        "data": [
            {"id": "2000000000000001", "page": {"id": "111", "name": "A"}},
            {"id": "2000000000000002", "page": {"id": "222", "name": "B"}},
        ],
        // Meta's next repeats the token but not necessarily the proof.
        "paging": {"cursors": {"before": "B0", "after": "C1"},
                   "next": format!("http://{addr}/v23.0/42/ids_for_pages?access_token=1234%7Capp-secret&after=C1")},
    });
    let page2 = json!({"data": [{"id": "2000000000000003", "page": {"id": "333", "name": "C"}}],
                       "paging": {"cursors": {"before": "C1", "after": "C2"}}});
    let requests = canned_server(listener, vec![(200, page1.to_string()), (200, page2.to_string())]);
    let client = GraphClient::new(format!("http://{addr}/v23.0/")).expect("a client");
    let ids = client.ids_for_pages("42", "1234", &secret()).await.unwrap();
    let ids: Vec<(&str, &str)> = ids.iter().map(|(p, s)| (p.as_str(), s.as_str())).collect();
    assert_eq!(
        ids,
        [
            ("111", "2000000000000001"),
            ("222", "2000000000000002"),
            ("333", "2000000000000003")
        ]
    );
    let proof = "appsecret_proof=18869a7ed24934964f3ac7c2c7a44b4629bb208e487e7a6112e8667cece089db";
    let first = requests.recv().unwrap();
    assert!(
        first.starts_with("GET /v23.0/42/ids_for_pages?access_token=1234%7Capp-secret&"),
        "{first}"
    );
    assert!(first.contains(proof), "{first}");
    let second = requests.recv().unwrap();
    assert!(second.contains("after=C1") && second.contains(proof), "{second}");
}

#[tokio::test]
async fn ids_for_pages_errors_are_classified_and_never_name_the_secret() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let bad_token = r#"{"error":{"message":"Invalid OAuth access token signature.","type":"OAuthException","code":190,"fbtrace_id":"A"}}"#;
    let elsewhere = json!({"data": [], "paging": {"next": "http://127.0.0.1:1/v23.0/42/ids_for_pages?after=X"}});
    let odd = json!({"data": [{"id": "has space", "page": {"id": "1"}}]});
    let not_meta = json!({"data": [{"id": "PSID1", "page": {"id": "1"}}]});
    let _requests = canned_server(
        listener,
        vec![
            (400, bad_token.into()),
            (200, elsewhere.to_string()),
            (200, odd.to_string()),
            (200, not_meta.to_string()),
        ],
    );
    let client = GraphClient::new(format!("http://{addr}/v23.0")).expect("a client");
    let e = client.ids_for_pages("42", "1234", &secret()).await.unwrap_err();
    assert_eq!((e.code, e.class), (Some(190), InvalidToken));
    let e = client.ids_for_pages("42", "1234", &secret()).await.unwrap_err();
    assert_eq!(e.class, Invalid, "{e}");
    let e = client.ids_for_pages("42", "1234", &secret()).await.unwrap_err();
    assert_eq!(e.class, Transient, "{e}");
    assert!(!e.to_string().contains("has space"));
    // A PSID that is not one of Meta's decimal ids: all or nothing.
    let e = client.ids_for_pages("42", "1234", &secret()).await.unwrap_err();
    assert_eq!(e.class, Transient, "{e}");
    assert!(!e.to_string().contains("PSID1"));

    for asid in ["../me", "0042", "4 2", "123456789012345678901"] {
        let e = client.ids_for_pages(asid, "1234", &secret()).await.unwrap_err();
        assert_eq!(e.class, Invalid, "{asid}");
    }
    // Nothing listens on port 1: the network error must not echo the URL.
    let e = GraphClient::new("http://127.0.0.1:1/v23.0")
        .expect("a client")
        .ids_for_pages("42", "1234", &secret())
        .await
        .unwrap_err();
    assert_eq!(e.class, Transient);
    assert!(!e.to_string().contains("app-secret"), "{e}");
}

#[test]
fn business_use_case_usage_is_read() {
    let h = r#"{"123":[{"type":"messenger","call_count":28,"total_cputime":75,"total_time":40,"estimated_time_to_regain_access":0}]}"#;
    assert_eq!(usage_percent(h), Some(75));
    assert_eq!(usage_percent("nope"), None);
}

fn a_send() -> SendRequest {
    SendRequest {
        recipient: Recipient::Id(Psid::parse("2000000000000001").unwrap()),
        messaging_type: Some(MessagingType::Update),
        tag: None,
        message: serde_json::json!({"text": "hi"}),
    }
}

async fn send_to(addr: std::net::SocketAddr) -> Result<SendResponse, GraphError> {
    send_with(addr, secret()).await
}

async fn send_with(addr: std::net::SocketAddr, page_token: SecretString) -> Result<SendResponse, GraphError> {
    GraphClient::new(format!("http://{addr}"))
        .unwrap()
        .send_message(&PageId::parse("1").unwrap(), &page_token, &a_send())
        .await
}

/// A server that answers each connection with `raw` bytes as given, then
/// closes it (an answer cut short).
fn raw_server(answers: Vec<&'static str>) -> std::net::SocketAddr {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for raw in answers {
            let Ok((mut conn, _)) = listener.accept() else { return };
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            let _ = conn.write_all(raw.as_bytes());
        }
    });
    addr
}

#[tokio::test]
async fn an_error_answer_cut_short_is_refused_for_now_not_for_good() {
    let addr = raw_server(vec![
        "HTTP/1.1 400 Bad Request\r\ncontent-length: 100\r\n\r\n{\"error\":",
        "HTTP/1.1 429 Too Many\r\ncontent-length: 100\r\n\r\n{",
        "HTTP/1.1 200 OK\r\ncontent-length: 100\r\n\r\n{\"message_id\":",
    ]);
    let lost = send_to(addr).await.unwrap_err();
    assert_eq!((lost.class, lost.status), (Transient, 400));
    assert_eq!(send_to(addr).await.unwrap_err().class, RateLimited);
    // Taken (200), its answer lost: never resent.
    assert_eq!(send_to(addr).await.unwrap_err().class, OutcomeUnknown);
}

#[tokio::test]
async fn a_page_token_no_header_can_carry_pauses_rather_than_risks_a_send() {
    // Nothing listens: the request is refused before any connection.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let err = send_with(closed, SecretString::from("token\npasted with its newline"))
        .await
        .unwrap_err();
    assert_eq!(err.class, InvalidToken);
    assert!(!err.message.contains("pasted"), "{}", err.message);
}

#[tokio::test]
async fn a_send_that_may_have_reached_meta_is_of_unknown_outcome_one_never_connected_is_transient() {
    // The request read, then the connection dropped without an answer.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::Read;
        let Ok((mut conn, _)) = listener.accept() else { return };
        let mut buf = [0u8; 4096];
        let _ = conn.read(&mut buf);
    });
    assert_eq!(send_to(addr).await.unwrap_err().class, OutcomeUnknown);
    // Meta's success without the message id it always gives.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let _requests = canned_server(
        listener,
        vec![
            (200, "{}".into()),
            (200, "not json".into()),
            (200, r#"{"recipient_id":"2000000000000001","message_id":"m_1"}"#.into()),
            (500, String::new()),
        ],
    );
    assert_eq!(send_to(addr).await.unwrap_err().class, OutcomeUnknown);
    assert_eq!(send_to(addr).await.unwrap_err().class, OutcomeUnknown);
    assert_eq!(send_to(addr).await.unwrap().message_id, "m_1");
    assert_eq!(send_to(addr).await.unwrap_err().class, Transient);
    // Nobody listening: nothing was sent, try again later.
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    assert_eq!(send_to(closed).await.unwrap_err().class, Transient);
}

#[test]
fn a_graph_api_url_that_is_not_one_is_refused_at_start() {
    for bad in [
        "graph.facebook.com/v23.0",
        "ftp://graph.facebook.com",
        "http://",
        "not a url",
    ] {
        assert!(GraphClient::new(bad).is_err(), "{bad}");
    }
    assert!(GraphClient::new(DEFAULT_BASE_URL).is_ok());
}
