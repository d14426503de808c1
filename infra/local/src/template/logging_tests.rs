//! Where the stack's logs and alarms go: access logs without paths or query
//! strings, every function's log group with a retention under the key, and
//! every alarm notifying the (encrypted) alarm topic.

use serde_json::{json, Value};

use super::test_support::{condition, key_statements, project_document, project_template, text};

/// `/v1/export` and the subscriber route carry PSIDs in the query string
/// and the path: the access log has the route's template, never the
/// request's path or query.
#[test]
fn api_access_logs_never_carry_a_path_or_query_string() {
    let t = project_template();
    let settings = &t.resources["HttpApi"].properties["AccessLogSettings"];
    let format = settings["Format"].as_str().expect("HttpApi.AccessLogSettings.Format");
    serde_json::from_str::<Value>(format).expect("one JSON object a line");
    const ALLOWED: [&str; 11] = [
        "requestId",
        "requestTimeEpoch",
        "routeKey",
        "status",
        "responseLatency",
        "integrationLatency",
        "integrationErrorMessage",
        "error.message",
        "authorizer.error",
        "identity.sourceIp",
        "responseLength",
    ];
    let mut variables = Vec::new();
    for (i, _) in format.match_indices('$') {
        let name: String = format[i + 1..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '.')
            .collect();
        let name = name.strip_prefix("context.").unwrap_or_else(|| panic!("${name}"));
        assert!(ALLOWED.contains(&name), "$context.{name} is not known to be safe");
        variables.push(name.to_string());
    }
    for needed in ["routeKey", "status", "requestId"] {
        assert!(variables.iter().any(|v| v == needed), "{needed}");
    }
    for never in [
        "$context.path",
        "querystring",
        "$request",
        "$input",
        "$context.requestOverride",
    ] {
        assert!(!format.contains(never), "{never}");
    }
    let group = settings["DestinationArn"]["Fn::GetAtt"][0].as_str().unwrap();
    assert_eq!(t.resources[group].kind, "AWS::Logs::LogGroup");
}

/// Lambda would otherwise create `/aws/lambda/<name>` on first use, kept
/// forever. Every log group is the template's, with a retention, and
/// encrypted with the key, whose policy lets CloudWatch Logs use it for
/// exactly these groups.
#[test]
fn every_function_logs_to_a_group_with_a_retention() {
    let t = project_template();
    let retention = &t.parameters["LogRetentionDays"];
    assert_eq!(retention["Default"], 30);
    assert!(retention["AllowedValues"].as_array().unwrap().contains(&json!(30)));
    let logs = key_statements(&t)
        .into_iter()
        .find(|s| text(&s["Principal"]["Service"]) == Some("logs.${AWS::Region}.amazonaws.com"))
        .expect("CloudWatch Logs may use the key");
    let arns = condition(&logs, "kms:EncryptionContext:aws:logs:arn");
    assert_eq!(arns.len(), 1, "{logs}");
    let prefix = arns[0].1[0]
        .strip_prefix("arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:")
        .and_then(|p| p.strip_suffix('*'))
        .unwrap_or_else(|| panic!("{logs}"));
    assert!(
        prefix.contains("${AWS::StackName}") && prefix.ends_with('/'),
        "{prefix}"
    );
    let groups: Vec<_> = t.of_type("AWS::Logs::LogGroup").collect();
    for (name, g) in &groups {
        let p = &g.properties;
        assert_eq!(p["RetentionInDays"], json!({"Ref": "LogRetentionDays"}), "{name}");
        assert_eq!(p["KmsKeyId"], json!({"Fn::GetAtt": ["DataKey", "Arn"]}), "{name}");
        let group_name = text(&p["LogGroupName"]).unwrap();
        assert!(
            group_name.starts_with(prefix),
            "{name}: {group_name} is not under {prefix}"
        );
    }
    let mut used = Vec::new();
    for (name, f) in t.of_type("AWS::Serverless::Function") {
        let group = f.properties["LoggingConfig"]["LogGroup"]["Ref"]
            .as_str()
            .unwrap_or_else(|| panic!("{name} has no log group of its own"));
        assert_eq!(t.resources[group].kind, "AWS::Logs::LogGroup", "{name}");
        used.push(group.to_string());
    }
    let functions = used.len();
    used.sort();
    used.dedup();
    assert_eq!(used.len(), functions, "one group per function");
    assert_eq!(groups.len(), functions + 1, "the functions' and the API's access log");
}

/// An alarm nobody hears is no alarm: every one notifies the alarm topic
/// when it fires and when it clears, and the topic mails `AlarmEmail`
/// when one is given. The topic is encrypted with the key, whose policy
/// lets CloudWatch use it for this topic only.
#[test]
fn every_alarm_notifies_the_alarm_topic() {
    let t = project_template();
    let topic = &t.resources["AlarmTopic"];
    assert_eq!(topic.kind, "AWS::SNS::Topic");
    assert_eq!(
        topic.properties["KmsMasterKeyId"],
        json!({"Fn::GetAtt": ["DataKey", "Arn"]})
    );
    let topic_name = text(&topic.properties["TopicName"]).unwrap();
    let cloudwatch = key_statements(&t)
        .into_iter()
        .find(|s| text(&s["Principal"]["Service"]) == Some("cloudwatch.amazonaws.com"))
        .expect("CloudWatch may publish to the encrypted topic");
    assert_eq!(
        condition(&cloudwatch, "kms:EncryptionContext:aws:sns:topicArn"),
        vec![(
            "StringEquals",
            vec![format!("arn:${{AWS::Partition}}:sns:${{AWS::Region}}:${{AWS::AccountId}}:{topic_name}").as_str()]
        )]
    );
    let mut alarms = 0;
    for (name, alarm) in t.of_type("AWS::CloudWatch::Alarm") {
        // The stack's topic, and the optional `AlarmTopicArn` when set.
        for actions in ["AlarmActions", "OKActions"] {
            assert_eq!(
                alarm.properties[actions],
                json!({"Fn::If": ["HasAlarmTopicArn",
                    [{"Ref": "AlarmTopic"}, {"Ref": "AlarmTopicArn"}],
                    [{"Ref": "AlarmTopic"}]]}),
                "{name} {actions}"
            );
        }
        alarms += 1;
    }
    assert!(alarms >= 8, "{alarms} alarms");
    let doc = project_document();
    let subscriptions: Vec<_> = doc["Resources"]
        .as_object()
        .unwrap()
        .values()
        .filter(|r| r["Type"] == "AWS::SNS::Subscription")
        .collect();
    assert_eq!(subscriptions.len(), 1);
    let subscription = subscriptions[0];
    assert_eq!(subscription["Properties"]["Protocol"], "email");
    assert_eq!(subscription["Properties"]["Endpoint"], json!({"Ref": "AlarmEmail"}));
    assert_eq!(subscription["Properties"]["TopicArn"], json!({"Ref": "AlarmTopic"}));
    let when = subscription["Condition"].as_str().expect("only with an address");
    assert_eq!(
        doc["Conditions"][when],
        json!({"Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmEmail"}, ""]}]})
    );
    assert_eq!(t.parameters["AlarmEmail"]["Default"], "");
}

/// At `RUST_LOG=trace` the AWS SDK logs whole requests and responses:
/// PSIDs in DynamoDB keys and items among them. The deployed (release)
/// builds compile every debug and trace callsite out (`tracing`'s
/// `release_max_level_info`, one feature for the whole build through the
/// workspace dependency `optcast-shared` takes, which every function takes),
/// so no log level set on a function can bring them back. The same holds
/// for the `log` records of dependencies (`log`'s feature of that name):
/// tracing-subscriber passes them on, and reqwest's and rustls's name
/// hosts, connections and handshakes.
#[test]
fn release_builds_compile_out_debug_and_trace_logs() {
    let manifest = |path: &str| -> toml::Table {
        let text = std::fs::read_to_string(format!("{}/../../{path}", env!("CARGO_MANIFEST_DIR"))).unwrap();
        text.parse().unwrap_or_else(|e| panic!("{path}: {e}"))
    };
    let workspace = manifest("Cargo.toml");
    let shared = manifest("shared/Cargo.toml");
    // tracing's own records, and the `log` records of dependencies (rustls,
    // reqwest), which tracing-subscriber's bridge passes on.
    for facade in ["tracing", "log"] {
        let features = workspace["workspace"]["dependencies"][facade]["features"]
            .as_array()
            .unwrap_or_else(|| panic!("{facade}'s features in the workspace dependencies"));
        assert!(
            features.iter().any(|f| f.as_str() == Some("release_max_level_info")),
            "{facade}: {features:?}"
        );
        assert_eq!(
            shared["dependencies"][facade]["workspace"].as_bool(),
            Some(true),
            "{facade}"
        );
    }
    let members = workspace["workspace"]["members"].as_array().unwrap();
    let functions: Vec<&str> = members
        .iter()
        .filter_map(|m| m.as_str())
        .filter(|m| m.starts_with("functions/"))
        .collect();
    assert_eq!(functions.len(), 8, "{members:?}");
    for function in functions {
        let crate_manifest = manifest(&format!("{function}/Cargo.toml"));
        assert_eq!(
            crate_manifest["dependencies"]["optcast-shared"]["workspace"].as_bool(),
            Some(true),
            "{function}"
        );
    }
}
