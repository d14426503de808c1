use super::*;

#[test]
fn jobs_round_trip_with_their_version_tag() {
    let job = IngestJob::DeliveryV1(DeliveryJob {
        received_at_ms: 5,
        body_sha256: "ab".into(),
        body: DeliveryBody::Inline {
            text: "{\"object\":\"page\"}".into(),
        },
    });
    let text = serde_json::to_string(&job).unwrap();
    assert!(text.contains("\"type\":\"delivery.v1\""), "{text}");
    assert_eq!(parse_job::<IngestJob>(&text).unwrap(), job);
}

#[test]
fn batches_hold_at_most_ten_messages_and_their_byte_limit() {
    let small = vec!["x".repeat(10); 25];
    assert_eq!(batches(&small).iter().map(|b| b.len()).collect::<Vec<_>>(), [10, 10, 5]);
    let big = vec!["y".repeat(200 * 1024); 3];
    assert_eq!(batches(&big).iter().map(|b| b.len()).collect::<Vec<_>>(), [1, 1, 1]);
    let mixed = vec![
        "a".repeat(100 * 1024),
        "b".repeat(100 * 1024),
        "c".repeat(100 * 1024),
        "d".into(),
    ];
    let sizes: Vec<usize> = batches(&mixed)
        .iter()
        .map(|b| b.iter().map(String::len).sum())
        .collect();
    assert!(sizes.iter().all(|s| *s <= BATCH_BYTES), "{sizes:?}");
    assert_eq!(batches(&mixed).iter().map(|b| b.len()).sum::<usize>(), 4);
    assert!(batches(&[]).is_empty());
}

#[test]
fn unknown_job_types_are_rejected() {
    assert!(parse_job::<IngestJob>(r#"{"type":"delivery.v9"}"#).is_err());
    assert!(parse_job::<IngestJob>("garbage").is_err());
}

#[test]
fn jobs_naming_an_id_that_is_not_metas_are_refused() {
    let erasure = |page: &str, psid: &str| {
        format!(
            r#"{{"type":"erasure.v1","request_id":"ab","target":{{"subject":{{"page_id":"{page}","psid":"{psid}"}}}}}}"#
        )
    };
    assert!(parse_job::<ErasureJob>(&erasure("1000000000000001", "2000000000000001")).is_ok());
    for (page, psid) in [
        ("..", "2000000000000001"),
        ("1000000000000001", "1=2"),
        ("PAGE1", "PSID1"),
    ] {
        assert!(parse_job::<ErasureJob>(&erasure(page, psid)).is_err(), "{page} {psid}");
    }
    let send = |psid: &str| {
        format!(
            r#"{{"type":"send.v1","broadcast_id":"ab","page_id":"1000000000000001","psid":"{psid}","lead":{{"platform":"messenger"}}}}"#
        )
    };
    assert!(
        parse_job::<SendJob>(&send("2000000000000001")).is_ok(),
        "{}",
        send("2000000000000001")
    );
    assert!(parse_job::<SendJob>(&send("abc/../x")).is_err());
}

#[test]
fn every_job_parses_back_from_its_body_and_a_wrong_body_names_the_job() {
    let plan = PlanJob::PlanV1 {
        broadcast_id: crate::ids::BroadcastId::parse("ab").unwrap(),
        shard: 3,
    };
    assert_eq!(parse_job::<PlanJob>(&to_body(&plan).unwrap()).unwrap(), plan);
    let erasure = ErasureJob::ErasureV1 {
        request_id: "ab".into(),
        target: ErasureTarget::AppScopedUser { asid: "7".into() },
        found_before: false,
        shredded_at_ms: None,
    };
    assert_eq!(parse_job::<ErasureJob>(&to_body(&erasure).unwrap()).unwrap(), erasure);
    // A plan job is not a send job, nor an erasure job.
    let body = to_body(&plan).unwrap();
    let err = parse_job::<SendJob>(&body).unwrap_err().to_string();
    assert!(err.contains("not a send job"), "{err}");
    assert!(parse_job::<ErasureJob>(&body).is_err());
    assert!(matches!(parse_job::<PlanJob>(""), Err(QueueError::BadJob(_))));
}

#[test]
fn a_purge_hand_over_keeps_its_shred_time_and_a_job_queued_before_it_existed_has_none() {
    let page = crate::ids::PageId::parse("1000000000000001").unwrap();
    let psid = crate::ids::Psid::parse("2000000000000001").unwrap();
    let hand_over = ErasureJob::ErasureV1 {
        request_id: "ab".into(),
        target: ErasureTarget::Subject { page_id: page, psid },
        found_before: true,
        shredded_at_ms: Some(1_764_547_200_000),
    };
    let body = to_body(&hand_over).unwrap();
    assert!(body.contains(r#""shredded_at_ms":1764547200000"#), "{body}");
    assert_eq!(parse_job::<ErasureJob>(&body).unwrap(), hand_over);
    // Queued by an earlier version (or an erasure request): the whole subject.
    let earlier = r#"{"type":"erasure.v1","request_id":"ab","target":{"subject":{"page_id":"1000000000000001","psid":"2000000000000001"}},"found_before":true}"#;
    let ErasureJob::ErasureV1 { shredded_at_ms, .. } = parse_job::<ErasureJob>(earlier).unwrap();
    assert_eq!(shredded_at_ms, None);
    let request = ErasureJob::ErasureV1 {
        request_id: "ab".into(),
        target: ErasureTarget::AppScopedUser { asid: "7".into() },
        found_before: false,
        shredded_at_ms: None,
    };
    assert!(!to_body(&request).unwrap().contains("shredded_at_ms"));
}
