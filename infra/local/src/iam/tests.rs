use super::needs::with_leading_key;
use super::*;

fn statement(actions: &[&str], resources: &[&str]) -> Statement {
    Statement {
        actions: actions.iter().map(|s| s.to_string()).collect(),
        resources: resources.iter().map(|s| s.to_string()).collect(),
        conditions: Vec::new(),
    }
}

fn need(action: &str, resource: &str) -> Need {
    Need {
        action: action.into(),
        resource: resource.into(),
        context: BTreeMap::new(),
        sse_of: None,
    }
}

#[test]
fn actions_and_resources_match_as_iam_patterns() {
    let st = statement(&["dynamodb:Query", "s3:Get*"], &["arn:t/orders", "arn:b/exports/*"]);
    assert!(allows(&st, &need("dynamodb:Query", "arn:t/orders")));
    assert!(allows(&st, &need("DynamoDB:query", "arn:t/orders")));
    assert!(!allows(&st, &need("dynamodb:Query", "arn:t/orders/index/by_age")));
    assert!(allows(&st, &need("s3:GetObjectVersion", "arn:b/exports/x/y.json")));
    assert!(!allows(&st, &need("s3:PutObject", "arn:b/exports/x")));
    assert!(!allows(&st, &need("s3:GetObject", "arn:b/claims/x")));
}

#[test]
fn conditions_apply_only_when_the_request_meets_them() {
    let mut via = statement(&["kms:Decrypt"], &["*"]);
    via.conditions = vec![("StringEquals".into(), "kms:ViaService".into(), vec!["sqs.x".into()])];
    // A direct call comes via no service.
    assert!(!allows(&via, &need("kms:Decrypt", "arn:k")));
    let mut prefix = statement(&["s3:ListBucket"], &["arn:b"]);
    prefix.conditions = vec![("StringLike".into(), "s3:prefix".into(), vec!["quarantine/*".into()])];
    let mut listing = need("s3:ListBucket", "arn:b");
    listing.context.insert("s3:prefix".into(), "quarantine/2026/".into());
    assert!(allows(&prefix, &listing));
    listing.context.insert("s3:prefix".into(), "claims/".into());
    assert!(!allows(&prefix, &listing));
}

#[test]
fn leading_keys_limit_a_statement_to_the_items_whose_partition_key_matches() {
    let mut tombstones = statement(&["dynamodb:UpdateItem"], &["arn:t/consent"]);
    tombstones.conditions = vec![(
        "ForAllValues:StringLike".into(),
        "dynamodb:LeadingKeys".into(),
        vec!["PAGE#*#GONE#*".into()],
    )];
    let update = |pk: &str| {
        with_leading_key(
            need("dynamodb:UpdateItem", "arn:t/consent"),
            &serde_json::json!({"Key": {"pk": {"S": pk}, "sk": {"S": "x"}}}),
        )
    };
    assert!(allows(&tombstones, &update("PAGE#1#GONE#abc")));
    assert!(!allows(&tombstones, &update("PAGE#1#SUB#abc")));
    // A request naming no one item does not meet it.
    assert!(!allows(&tombstones, &need("dynamodb:UpdateItem", "arn:t/consent")));
}

#[test]
fn a_transaction_needs_each_items_own_action_and_a_batch_delete_each_keys() {
    let guard = Guard::new(
        "unit",
        BTreeMap::new(),
        BTreeMap::from([
            (
                "t-deliveries".to_string(),
                "arn:aws:dynamodb:r:1:table/t-deliveries".to_string(),
            ),
            ("bucket".to_string(), "arn:aws:s3:::bucket".to_string()),
        ]),
        Sse::default(),
    );
    let mut headers = hyper::HeaderMap::new();
    headers.insert("x-amz-target", "DynamoDB_20120810.TransactWriteItems".parse().unwrap());
    let body = br#"{"TransactItems":[{"Delete":{"TableName":"t-deliveries"}},{"ConditionCheck":{"TableName":"t-deliveries"}}]}"#;
    let uri: hyper::Uri = "/".parse().unwrap();
    let needs = guard.needs(&headers, &hyper::Method::POST, &uri, body);
    assert_eq!(
        needs.iter().map(|n| n.action.as_str()).collect::<Vec<_>>(),
        ["dynamodb:DeleteItem", "dynamodb:ConditionCheckItem"]
    );
    assert_eq!(needs[0].resource, "arn:aws:dynamodb:r:1:table/t-deliveries");
    let delete = br#"<Delete><Object><Key>exports/a.json</Key><VersionId>v1</VersionId></Object><Object><Key>claims/b</Key></Object></Delete>"#;
    let uri: hyper::Uri = "/bucket?delete".parse().unwrap();
    let needs = guard.needs(&hyper::HeaderMap::new(), &hyper::Method::POST, &uri, delete);
    assert_eq!(
        needs
            .iter()
            .map(|n| (n.action.as_str(), n.resource.as_str()))
            .collect::<Vec<_>>(),
        [
            ("s3:DeleteObjectVersion", "arn:aws:s3:::bucket/exports/a.json"),
            ("s3:DeleteObject", "arn:aws:s3:::bucket/claims/b")
        ]
    );
}

const KEY: &str = "arn:aws:kms:r:1:key/k";
const QUEUE: &str = "arn:aws:sqs:r:1:q";
const TABLE: &str = "arn:aws:dynamodb:r:1:table/t";
const BUCKET: &str = "arn:aws:s3:::b";

/// A stack whose queue `q`, table `t` and bucket `b` are encrypted with
/// `KEY`; its function `f` has `statements`.
fn encrypted(prefix: &str, statements: Vec<Statement>) -> Guard {
    let names = [
        ("q", QUEUE),
        ("http://h/1/q", QUEUE),
        ("t", TABLE),
        ("b", BUCKET),
        ("k", KEY),
    ];
    Guard::new(
        prefix,
        BTreeMap::from([("f".to_string(), statements)]),
        names.iter().map(|(n, a)| (n.to_string(), a.to_string())).collect(),
        Sse {
            region: "r".into(),
            keys: [QUEUE, TABLE, BUCKET]
                .iter()
                .map(|a| (a.to_string(), KEY.to_string()))
                .collect(),
        },
    )
}

fn json_request(target: &str) -> hyper::HeaderMap {
    let mut headers = hyper::HeaderMap::new();
    headers.insert("x-amz-target", target.parse().unwrap());
    headers
}

/// Each need as `action on resource [via service]`.
fn described(needs: &[Need]) -> Vec<String> {
    needs
        .iter()
        .map(|n| match n.context.get("kms:ViaService") {
            Some(via) => format!("{} on {} via {via}", n.action, n.resource),
            None => format!("{} on {}", n.action, n.resource),
        })
        .collect()
}

#[test]
fn an_encrypted_queue_or_table_needs_its_key_through_the_service() {
    let guard = encrypted("unitsse", Vec::new());
    let (post, root) = (hyper::Method::POST, "/".parse::<hyper::Uri>().unwrap());
    let needs =
        |target: &str, body: &str| described(&guard.needs(&json_request(target), &post, &root, body.as_bytes()));
    assert_eq!(
        needs("AmazonSQS.SendMessageBatch", r#"{"QueueUrl":"http://h/1/q"}"#),
        [
            format!("sqs:SendMessage on {QUEUE}"),
            format!("kms:GenerateDataKey on {KEY} via sqs.r.amazonaws.com"),
            format!("kms:Decrypt on {KEY} via sqs.r.amazonaws.com"),
        ]
    );
    assert_eq!(
        needs("AmazonSQS.ReceiveMessage", r#"{"QueueUrl":"http://h/1/q"}"#),
        [
            format!("sqs:ReceiveMessage on {QUEUE}"),
            format!("kms:Decrypt on {KEY} via sqs.r.amazonaws.com"),
        ]
    );
    // Deleting a message reads none.
    assert_eq!(
        needs("AmazonSQS.DeleteMessage", r#"{"QueueUrl":"q"}"#),
        [format!("sqs:DeleteMessage on {QUEUE}")]
    );
    // An index is under its table's key; DynamoDB makes the data keys
    // itself, so a write needs only the table key decrypted.
    assert_eq!(
        needs("DynamoDB_20120810.Query", r#"{"TableName":"t","IndexName":"by_age"}"#),
        [
            format!("dynamodb:Query on {TABLE}/index/by_age"),
            format!("kms:Decrypt on {KEY} via dynamodb.r.amazonaws.com"),
        ]
    );
    assert_eq!(
        needs(
            "DynamoDB_20120810.TransactWriteItems",
            r#"{"TransactItems":[{"Put":{"TableName":"t"}}]}"#
        ),
        [
            format!("dynamodb:PutItem on {TABLE}"),
            format!("kms:Decrypt on {KEY} via dynamodb.r.amazonaws.com"),
        ]
    );
    // A queue of no key of the stack needs none.
    assert_eq!(
        needs("AmazonSQS.SendMessage", r#"{"QueueUrl":"other"}"#),
        ["sqs:SendMessage on other"]
    );
}

#[test]
fn an_object_of_an_encrypted_bucket_needs_its_key_through_s3() {
    let guard = encrypted("unitsses3", Vec::new());
    let needs = |method: &str, uri: &str, headers: &[(&str, &str)]| {
        let mut map = hyper::HeaderMap::new();
        for (k, v) in headers {
            map.insert(k.parse::<hyper::header::HeaderName>().unwrap(), v.parse().unwrap());
        }
        let method: hyper::Method = method.parse().unwrap();
        described(&guard.needs(&map, &method, &uri.parse().unwrap(), b""))
    };
    let via = "via s3.r.amazonaws.com";
    assert_eq!(
        needs("PUT", "/b/claims/x", &[]),
        [
            format!("s3:PutObject on {BUCKET}/claims/x"),
            format!("kms:GenerateDataKey on {KEY} {via}")
        ]
    );
    assert_eq!(
        needs("GET", "/b/claims/x", &[]),
        [
            format!("s3:GetObject on {BUCKET}/claims/x"),
            format!("kms:Decrypt on {KEY} {via}")
        ]
    );
    // A HEAD reads metadata only, which is not encrypted.
    assert_eq!(
        needs("HEAD", "/b/claims/x", &[]),
        [format!("s3:GetObject on {BUCKET}/claims/x")]
    );
    // Every step of a multipart upload needs both.
    for (method, uri) in [
        ("POST", "/b/exports/e?uploads"),
        ("PUT", "/b/exports/e?partNumber=1&uploadId=u"),
        ("POST", "/b/exports/e?uploadId=u"),
    ] {
        assert_eq!(
            needs(method, uri, &[]),
            [
                format!("s3:PutObject on {BUCKET}/exports/e"),
                format!("kms:GenerateDataKey on {KEY} {via}"),
                format!("kms:Decrypt on {KEY} {via}"),
            ]
        );
    }
    assert_eq!(
        needs("DELETE", "/b/exports/e?uploadId=u", &[]),
        [format!("s3:AbortMultipartUpload on {BUCKET}/exports/e")]
    );
    // A write naming its own encryption: another key, or none of KMS.
    assert_eq!(
        needs(
            "PUT",
            "/b/x",
            &[
                ("x-amz-server-side-encryption", "aws:kms"),
                (
                    "x-amz-server-side-encryption-aws-kms-key-id",
                    "arn:aws:kms:r:1:key/other"
                )
            ]
        ),
        [
            format!("s3:PutObject on {BUCKET}/x"),
            format!("kms:GenerateDataKey on arn:aws:kms:r:1:key/other {via}")
        ]
    );
    assert_eq!(
        needs("PUT", "/b/x", &[("x-amz-server-side-encryption", "AES256")]),
        [format!("s3:PutObject on {BUCKET}/x")]
    );
}

#[test]
fn a_policy_without_the_key_through_the_service_is_refused() {
    let send = statement(&["sqs:SendMessage"], &[QUEUE]);
    let put = statement(&["s3:PutObject"], &[&format!("{BUCKET}/*")]);
    // The key for its own envelopes only (a direct call's context).
    let mut direct = statement(&["kms:GenerateDataKey", "kms:Decrypt"], &[KEY]);
    direct.conditions = vec![(
        "StringEquals".into(),
        "kms:EncryptionContext:purpose".into(),
        vec!["claim-check".into()],
    )];
    let through = |services: &[&str]| {
        let mut st = statement(&["kms:GenerateDataKey", "kms:Decrypt"], &[KEY]);
        let vias = services.iter().map(|s| format!("{s}.r.amazonaws.com")).collect();
        st.conditions = vec![("StringEquals".into(), "kms:ViaService".into(), vias)];
        st
    };
    let key = access_key_of("unitssedeny", "f");
    let mut headers = json_request("AmazonSQS.SendMessage");
    let (post, root) = (hyper::Method::POST, "/".parse::<hyper::Uri>().unwrap());
    let body = br#"{"QueueUrl":"q"}"#;

    let guard = encrypted("unitssedeny", vec![send.clone(), put.clone(), direct.clone()]);
    let refused = guard.refusal(&key, &headers, &post, &root, body);
    assert_eq!(
        refused.as_deref(),
        Some(
            "f: kms:GenerateDataKey on arn:aws:kms:r:1:key/k \
             (server-side encryption of sqs:SendMessage on arn:aws:sqs:r:1:q)"
        )
    );

    // Through SQS only: the message goes, the object does not.
    let guard = encrypted("unitssedeny", vec![send, put, direct, through(&["sqs"])]);
    assert_eq!(guard.refusal(&key, &headers, &post, &root, body), None);
    headers.remove("x-amz-target");
    let object: hyper::Uri = "/b/claims/x".parse().unwrap();
    let refused = guard.refusal(&key, &headers, &hyper::Method::PUT, &object, b"");
    let refused = refused.expect("no key through S3");
    assert!(refused.starts_with("f: kms:GenerateDataKey on "), "{refused}");
    assert!(
        refused.ends_with("of s3:PutObject on arn:aws:s3:::b/claims/x)"),
        "{refused}"
    );
    assert_eq!(guard.take_denied().len(), 1);
}
