//! Security properties of template.yaml that the emulator enforces none of:
//! who may use the customer-managed key, and for what (key policy and each
//! function's own policy).

use std::collections::BTreeMap;

use super::test_support::{
    actions, allows, condition, data_plane, function_role_pattern, has_context_condition, key_statements,
    project_template, text,
};

/// Administrators (the account, through IAM) manage the key but cannot
/// use it: an IAM policy granting `kms:*` reads no data.
#[test]
fn the_key_policy_gives_administrators_no_use_of_the_key() {
    let t = project_template();
    let mut administered = Vec::new();
    for s in key_statements(&t) {
        let Some(principal) = text(&s["Principal"]["AWS"]) else {
            continue;
        };
        assert!(principal.ends_with(":root"), "principals are named by condition: {s}");
        assert_eq!(s["Effect"], "Allow");
        if !condition(&s, "aws:PrincipalArn").is_empty() {
            continue;
        }
        assert!(
            !actions(&s).iter().any(|a| *a == "*" || a.eq_ignore_ascii_case("kms:*")),
            "{s}"
        );
        assert_eq!(data_plane(&s), Vec::<&str>::new(), "administrators use the key: {s}");
        // A grant could hand its creator decryption: only AWS services
        // (DynamoDB, for its tables) may have one made.
        if allows(&s, "kms:CreateGrant") {
            assert_eq!(
                condition(&s, "kms:GrantIsForAWSResource"),
                vec![("Bool", vec!["true"])],
                "{s}"
            );
        }
        administered.extend(
            [
                "kms:PutKeyPolicy",
                "kms:DescribeKey",
                "kms:EnableKeyRotation",
                "kms:ScheduleKeyDeletion",
                "kms:CancelKeyDeletion",
                "kms:TagResource",
            ]
            .into_iter()
            .filter(|a| allows(&s, a) && s["Condition"].is_null()),
        );
    }
    administered.sort_unstable();
    administered.dedup();
    assert_eq!(
        administered.len(),
        6,
        "the key can still be administered: {administered:?}"
    );
}

/// Every statement that lets anyone use the key names who (the function
/// roles, by path; or a role a parameter names) and how (through one of
/// our services, or with an encryption context). AWS services use it only
/// for this stack's log groups and alarm topic, by encryption context.
#[test]
fn every_use_of_the_key_is_bound_to_a_principal_and_a_service_or_context() {
    let t = project_template();
    let functions = function_role_pattern(&t);
    let mut checked = 0;
    for s in key_statements(&t) {
        if data_plane(&s).is_empty() {
            continue;
        }
        checked += 1;
        if s["Principal"]["AWS"].is_null() {
            assert!(
                s["Principal"]["Service"].is_object() || s["Principal"]["Service"].is_string(),
                "{s}"
            );
            assert!(has_context_condition(&s), "a service uses the key for any context: {s}");
            continue;
        }
        let principals = condition(&s, "aws:PrincipalArn");
        assert_eq!(principals.len(), 1, "no principal condition: {s}");
        match &principals[0] {
            ("ArnLike", arns) => assert_eq!(arns, &vec![functions.as_str()], "{s}"),
            ("ArnEquals", _) => assert_eq!(
                s["Condition"]["ArnEquals"]["aws:PrincipalArn"]["Ref"], "DlqRedriveRoleArn",
                "{s}"
            ),
            other => panic!("principal condition {other:?}: {s}"),
        }
        let via = condition(&s, "kms:ViaService");
        assert!(
            !via.is_empty() || has_context_condition(&s),
            "neither a service nor a context: {s}"
        );
        for (operator, services) in via {
            assert_eq!(operator, "StringEquals", "{s}");
            for service in services {
                assert!(
                    ["sqs", "dynamodb", "s3"]
                        .iter()
                        .any(|n| service == format!("{n}.${{AWS::Region}}.amazonaws.com")),
                    "{service}"
                );
            }
        }
    }
    assert!(checked >= 6, "{checked} statements");
}

/// The functions ask KMS for data keys themselves with these encryption
/// contexts (`crypto::subject_key_context`, `crypto::page_key_context`,
/// `queue::claim_context`); the key policy allows exactly these shapes.
/// Conditions name context keys and fixed purposes only, never a digest
/// or an id (the subject digest is about to change).
#[test]
fn direct_use_of_the_key_is_limited_to_the_contexts_the_code_uses() {
    let t = project_template();
    let mut shapes = BTreeMap::new();
    for s in key_statements(&t) {
        if s["Principal"]["AWS"].is_null() || data_plane(&s).is_empty() || !condition(&s, "kms:ViaService").is_empty() {
            continue;
        }
        // The function roles; not the optional redrive role.
        if condition(&s, "aws:PrincipalArn").first().map(|c| c.0) == Some("ArnEquals") {
            continue;
        }
        let purpose = condition(&s, "kms:EncryptionContext:purpose");
        assert_eq!(purpose.len(), 1, "{s}");
        assert_eq!(purpose[0].0, "StringEquals", "{s}");
        let keys = condition(&s, "kms:EncryptionContextKeys");
        assert_eq!(keys.len(), 1, "{s}");
        assert_eq!(keys[0].0, "ForAllValues:StringEquals", "{s}");
        for digest in ["kms:EncryptionContext:subject", "kms:EncryptionContext:page"] {
            for (operator, _) in condition(&s, digest) {
                assert_eq!(operator, "Null", "{digest} is only required to be present: {s}");
            }
        }
        let mut actions: Vec<&str> = data_plane(&s);
        actions.sort_unstable();
        assert_eq!(actions, ["kms:Decrypt", "kms:GenerateDataKey"], "{s}");
        for p in &purpose[0].1 {
            let mut k: Vec<String> = keys[0].1.iter().map(|k| k.to_string()).collect();
            k.sort();
            assert!(shapes.insert(p.to_string(), k).is_none(), "{p} twice");
        }
    }
    let expected: BTreeMap<String, Vec<String>> = [
        ("claim-check", vec!["object", "purpose"]),
        ("page", vec!["page", "purpose"]),
        ("subject", vec!["page", "purpose", "subject"]),
    ]
    .into_iter()
    .map(|(p, k)| (p.to_string(), k.into_iter().map(String::from).collect()))
    .collect();
    assert_eq!(shapes, expected);
}

/// Each function's own IAM policy narrows the key further: through the
/// services it calls, or directly for the purposes its code has.
#[test]
fn each_function_uses_the_key_directly_only_for_its_own_purposes() {
    let t = project_template();
    let direct: BTreeMap<&str, Vec<(&str, &str)>> = BTreeMap::from([
        ("WebhookFunction", vec![("kms:GenerateDataKey", "claim-check")]),
        (
            "IngestFunction",
            vec![
                ("kms:Decrypt", "claim-check"),
                ("kms:Decrypt", "subject"),
                ("kms:GenerateDataKey", "claim-check"),
                ("kms:GenerateDataKey", "subject"),
            ],
        ),
        // Exports open a lead's key; connecting a page makes its token's
        // key, and a test send opens it.
        (
            "ApiFunction",
            vec![
                ("kms:Decrypt", "page"),
                ("kms:Decrypt", "subject"),
                ("kms:GenerateDataKey", "page"),
            ],
        ),
        (
            "SenderFunction",
            vec![("kms:Decrypt", "page"), ("kms:Decrypt", "subject")],
        ),
        ("PlannerFunction", vec![]),
        ("SchedulerFunction", vec![]),
        (
            "EraserFunction",
            vec![("kms:Decrypt", "claim-check"), ("kms:GenerateDataKey", "claim-check")],
        ),
        ("SweeperFunction", vec![]),
    ]);
    let functions: Vec<_> = t.of_type("AWS::Serverless::Function").collect();
    assert_eq!(functions.len(), direct.len());
    for (name, f) in functions {
        let mut found = Vec::new();
        for policy in f.properties["Policies"].as_array().into_iter().flatten() {
            for s in policy["Statement"].as_array().into_iter().flatten() {
                let kms: Vec<&str> = actions(s).into_iter().filter(|a| a.starts_with("kms:")).collect();
                if kms.is_empty() {
                    continue;
                }
                assert!(
                    kms.iter().all(|a| ["kms:Decrypt", "kms:GenerateDataKey"].contains(a)),
                    "{name}: {s}"
                );
                if !condition(s, "kms:ViaService").is_empty() {
                    continue;
                }
                let purposes = condition(s, "kms:EncryptionContext:purpose");
                assert_eq!(purposes.len(), 1, "{name}: neither a service nor a purpose: {s}");
                for a in &kms {
                    found.extend(purposes[0].1.iter().map(|p| (*a, *p)));
                }
            }
        }
        found.sort_unstable();
        assert_eq!(found, direct[name.as_str()], "{name}");
    }
}
