//! Reads `template.yaml` so the local stack creates exactly the resources
//! (and wires exactly the functions) that SAM deploys: the two cannot drift.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context};
use serde_json::{json, Map, Value};

#[derive(Debug, Clone)]
pub struct Template {
    pub parameters: Map<String, Value>,
    pub globals: Value,
    pub resources: BTreeMap<String, Resource>,
}

#[derive(Debug, Clone)]
pub struct Resource {
    pub kind: String,
    pub properties: Value,
}

impl Template {
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        Self::parse(&text)
    }

    pub fn parse(text: &str) -> anyhow::Result<Self> {
        let yaml: serde_yaml::Value = serde_yaml::from_str(text).context("template.yaml is not YAML")?;
        let doc = to_json(yaml);
        let Some(resources) = doc.get("Resources").and_then(Value::as_object) else {
            bail!("template has no Resources");
        };
        let resources = resources
            .iter()
            .map(|(name, r)| {
                let kind = r.get("Type").and_then(Value::as_str).unwrap_or_default().to_string();
                let properties = r.get("Properties").cloned().unwrap_or(Value::Object(Map::new()));
                (name.clone(), Resource { kind, properties })
            })
            .collect();
        Ok(Self {
            parameters: doc
                .get("Parameters")
                .and_then(Value::as_object)
                .cloned()
                .unwrap_or_default(),
            globals: doc.get("Globals").cloned().unwrap_or(Value::Null),
            resources,
        })
    }

    pub fn of_type<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = (&'a String, &'a Resource)> + 'a {
        self.resources.iter().filter(move |(_, r)| r.kind == kind)
    }
}

/// YAML to JSON, turning CloudFormation short-form tags (`!Ref`, `!GetAtt`,
/// `!Sub`, …) into their long forms.
fn to_json(v: serde_yaml::Value) -> Value {
    use serde_yaml::Value as Y;
    match v {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => {
            if let Some(i) = n.as_i64() {
                json!(i)
            } else if let Some(f) = n.as_f64() {
                json!(f)
            } else {
                Value::String(n.to_string())
            }
        }
        Y::String(s) => Value::String(s),
        Y::Sequence(items) => Value::Array(items.into_iter().map(to_json).collect()),
        Y::Mapping(m) => Value::Object(
            m.into_iter()
                .map(|(k, v)| {
                    let key = match k {
                        Y::String(s) => s,
                        other => serde_yaml::to_string(&other).unwrap_or_default().trim().to_string(),
                    };
                    (key, to_json(v))
                })
                .collect(),
        ),
        Y::Tagged(tagged) => {
            let tag = tagged.tag.to_string();
            let tag = tag.trim_start_matches('!');
            let inner = to_json(tagged.value);
            match tag {
                "Ref" => json!({ "Ref": inner }),
                "GetAtt" => match inner {
                    Value::String(s) => {
                        let (res, attr) = s.split_once('.').unwrap_or((&s, ""));
                        json!({ "Fn::GetAtt": [res, attr] })
                    }
                    other => json!({ "Fn::GetAtt": other }),
                },
                other => json!({ format!("Fn::{other}"): inner }),
            }
        }
    }
}

#[cfg(test)]
mod monitoring_tests;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_form_intrinsics_become_long_form() {
        let t = Template::parse(
            "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n    Properties:\n      A: !Ref K\n      B: !GetAtt D.Arn\n      C: !Sub '${AWS::StackName}-x'\n",
        )
        .unwrap();
        let p = &t.resources["Q"].properties;
        assert_eq!(p["A"], json!({"Ref": "K"}));
        assert_eq!(p["B"], json!({"Fn::GetAtt": ["D", "Arn"]}));
        assert_eq!(p["C"], json!({"Fn::Sub": "${AWS::StackName}-x"}));
    }

    fn project_template() -> Template {
        Template::load(Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml"))).unwrap()
    }

    /// Lambda's advice for SQS event sources: a visibility timeout of at least
    /// six times the function's timeout, so a message is not taken again while
    /// a slow (or retried) invocation still works on it.
    #[test]
    fn every_queue_a_function_polls_hides_messages_six_times_its_timeout() {
        let t = project_template();
        let global_timeout = t.globals["Function"]["Timeout"].as_u64().unwrap();
        let mut checked = 0;
        for r in t.resources.values().filter(|r| r.kind == "AWS::Serverless::Function") {
            let timeout = r.properties["Timeout"].as_u64().unwrap_or(global_timeout);
            for event in r.properties["Events"].as_object().into_iter().flat_map(|e| e.values()) {
                if event["Type"] != "SQS" {
                    continue;
                }
                let queue = event["Properties"]["Queue"]["Fn::GetAtt"][0].as_str().unwrap();
                let props = &t.resources[queue].properties;
                let visibility = props["VisibilityTimeout"].as_u64().unwrap_or(30);
                assert!(visibility >= 6 * timeout, "{queue}: {visibility} s < 6 x {timeout} s");
                assert!(
                    props["RedrivePolicy"]["deadLetterTargetArn"].is_object(),
                    "{queue} has a DLQ"
                );
                checked += 1;
            }
        }
        assert!(checked >= 5, "{checked} event sources");
    }

    #[test]
    fn quarantined_items_raise_an_alarm() {
        let t = project_template();
        let alarm = &t.resources["IngestQuarantineAlarm"].properties;
        assert_eq!(alarm["Namespace"], "optcast");
        assert_eq!(alarm["MetricName"], "QuarantinedItems");
        assert_eq!(alarm["Threshold"], 0);
        assert_eq!(alarm["ComparisonOperator"], "GreaterThanThreshold");
        let rules = t.resources["DataBucket"].properties["LifecycleConfiguration"]["Rules"]
            .as_array()
            .unwrap()
            .clone();
        assert!(rules
            .iter()
            .any(|r| r["Prefix"] == "quarantine/" && r["ExpirationInDays"] == 30));
    }

    #[test]
    fn every_api_route_requires_in_api_gateway_the_scope_the_code_checks() {
        let t = project_template();
        let api = &t.resources["ApiFunction"].properties;
        let mut declared = std::collections::BTreeSet::new();
        let mut console = Vec::new();
        for event in api["Events"].as_object().unwrap().values() {
            let p = &event["Properties"];
            // The console's static files: public, read only (functions/api console.rs).
            if p["Path"].as_str().unwrap().starts_with("/console") {
                assert!(p["Auth"].is_null(), "{p}");
                assert_eq!(p["Method"], "GET", "{p}");
                console.push(p["Path"].as_str().unwrap().to_string());
                continue;
            }
            // No scopes: any caller the authorizer accepts (the code's `None`).
            let scopes: Vec<&str> = p["Auth"]["AuthorizationScopes"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|s| s.as_str().unwrap())
                .collect();
            assert_eq!(p["Auth"]["Authorizer"], "AdminJwt", "{p}");
            declared.insert((
                p["Method"].as_str().unwrap().to_string(),
                p["Path"].as_str().unwrap().to_string(),
                scopes.join(" "),
            ));
        }
        let in_code: std::collections::BTreeSet<_> = api::ROUTES
            .iter()
            .map(|r| {
                (
                    r.method.to_string(),
                    r.path.to_string(),
                    r.scope.map_or("", |s| s.as_str()).to_string(),
                )
            })
            .collect();
        assert_eq!(declared, in_code);
        console.sort();
        assert_eq!(console, ["/console", "/console/{proxy+}"]);
        assert_eq!(
            api["Environment"]["Variables"]["PAGES_CLAIM"]["Ref"],
            "AdminJwtPagesClaim"
        );
    }

    // ---- Security properties of template.yaml that the emulator enforces none of.

    /// The template as written, with resource attributes (`Condition`) too.
    fn project_document() -> Value {
        let text = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml")).unwrap();
        to_json(serde_yaml::from_str(&text).unwrap())
    }

    /// A string, or the text of its `Fn::Sub`.
    fn text(v: &Value) -> Option<&str> {
        v.as_str().or_else(|| v["Fn::Sub"].as_str())
    }

    /// A string or a list of them (each possibly a `Fn::Sub`).
    fn texts(v: &Value) -> Vec<&str> {
        match v {
            Value::Array(items) => items.iter().filter_map(text).collect(),
            other => text(other).into_iter().collect(),
        }
    }

    /// IAM wildcard match (`*`, `?`); actions are case-insensitive.
    fn glob(pattern: &str, name: &str) -> bool {
        fn go(p: &[u8], t: &[u8]) -> bool {
            match p.split_first() {
                None => t.is_empty(),
                Some((b'*', rest)) => (0..=t.len()).any(|i| go(rest, &t[i..])),
                Some((b'?', rest)) => !t.is_empty() && go(rest, &t[1..]),
                Some((c, rest)) => t.first() == Some(c) && go(rest, &t[1..]),
            }
        }
        go(
            pattern.to_ascii_lowercase().as_bytes(),
            name.to_ascii_lowercase().as_bytes(),
        )
    }

    /// Everything that reads or produces plaintext under the key.
    const DATA_PLANE: [&str; 8] = [
        "kms:Decrypt",
        "kms:Encrypt",
        "kms:ReEncryptFrom",
        "kms:ReEncryptTo",
        "kms:GenerateDataKey",
        "kms:GenerateDataKeyWithoutPlaintext",
        "kms:GenerateDataKeyPair",
        "kms:GenerateDataKeyPairWithoutPlaintext",
    ];

    fn actions(statement: &Value) -> Vec<&str> {
        texts(&statement["Action"])
    }

    fn allows(statement: &Value, action: &str) -> bool {
        actions(statement).iter().any(|a| glob(a, action))
    }

    fn data_plane(statement: &Value) -> Vec<&'static str> {
        DATA_PLANE.into_iter().filter(|a| allows(statement, a)).collect()
    }

    /// The key policy's statements; a conditional one (`Fn::If`) as it reads
    /// when its condition holds.
    fn key_statements(t: &Template) -> Vec<Value> {
        t.resources["DataKey"].properties["KeyPolicy"]["Statement"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| match s["Fn::If"].as_array() {
                Some(branches) => branches[1].clone(),
                None => s.clone(),
            })
            .collect()
    }

    /// Every value a condition key is tested against, under any operator.
    fn condition<'a>(statement: &'a Value, key: &str) -> Vec<(&'a str, Vec<&'a str>)> {
        let mut out = Vec::new();
        for (operator, tests) in statement["Condition"].as_object().into_iter().flatten() {
            if let Some(v) = tests.get(key) {
                out.push((operator.as_str(), texts(v)));
            }
        }
        out
    }

    fn has_context_condition(statement: &Value) -> bool {
        statement["Condition"]
            .as_object()
            .into_iter()
            .flat_map(|ops| ops.values())
            .filter_map(Value::as_object)
            .flat_map(|tests| tests.keys())
            .any(|k| k.starts_with("kms:EncryptionContext"))
    }

    /// The ARN pattern of this stack's function roles: SAM puts every role
    /// under the path in Globals, and no function picks a role of its own.
    fn function_role_pattern(t: &Template) -> String {
        let path = text(&t.globals["Function"]["RolePath"]).expect("Globals.Function.RolePath");
        assert!(path.starts_with('/') && path.ends_with('/'), "{path}");
        assert!(
            path.contains("${AWS::StackName}") && path.contains("${AWS::Region}"),
            "a path of this stack in this region only: {path}"
        );
        for (name, f) in t.of_type("AWS::Serverless::Function") {
            assert!(f.properties.get("Role").is_none(), "{name} brings its own role");
            assert!(f.properties.get("RolePath").is_none(), "{name} leaves the role path");
        }
        format!("arn:${{AWS::Partition}}:iam::${{AWS::AccountId}}:role{path}*")
    }

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
            if s["Principal"]["AWS"].is_null()
                || data_plane(&s).is_empty()
                || !condition(&s, "kms:ViaService").is_empty()
            {
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
            (
                "ApiFunction",
                vec![("kms:Decrypt", "subject"), ("kms:GenerateDataKey", "page")],
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

    fn default_of(t: &Template, v: &Value) -> f64 {
        let name = v["Ref"].as_str().unwrap_or_else(|| panic!("{v} is a parameter"));
        t.parameters[name]["Default"]
            .as_f64()
            .unwrap_or_else(|| panic!("{name} has a default"))
    }

    /// Every route has a throttle of its own, so flooding one (the management
    /// API, the data-deletion callback) gets 429s there and never on Meta's
    /// deliveries; Meta's routes get the most, the management API the least.
    #[test]
    fn every_route_has_its_own_throttle_and_metas_deliveries_the_largest() {
        let t = project_template();
        let api = &t.resources["HttpApi"].properties;
        let settings = api["RouteSettings"].as_object().expect("HttpApi.RouteSettings");
        let mut routes = Vec::new();
        for (_, f) in t.of_type("AWS::Serverless::Function") {
            for event in f.properties["Events"].as_object().into_iter().flat_map(|e| e.values()) {
                if event["Type"] == "HttpApi" {
                    let p = &event["Properties"];
                    routes.push(format!(
                        "{} {}",
                        text(&p["Method"]).unwrap().to_ascii_uppercase(),
                        text(&p["Path"]).unwrap()
                    ));
                }
            }
        }
        routes.sort();
        let mut keys: Vec<String> = settings.keys().cloned().collect();
        keys.sort();
        // A key naming no route fails the deployment; a route without one
        // would share the stage default.
        assert_eq!(keys, routes);
        let mut by_class: BTreeMap<&str, Vec<(f64, f64)>> = BTreeMap::new();
        for (route, s) in settings {
            let path = route.split_once(' ').unwrap().1;
            let class = if path == "/webhook" {
                "1 webhook"
            } else if path.starts_with("/meta/data-deletion") {
                "2 data-deletion"
            } else if path.starts_with("/v1/") || path == "/console" || path.starts_with("/console/") {
                // The console is the management API's face: the same people.
                "3 admin"
            } else {
                panic!("{route}: which class?")
            };
            let rate = default_of(&t, &s["ThrottlingRateLimit"]);
            let burst = default_of(&t, &s["ThrottlingBurstLimit"]);
            assert!(burst >= rate, "{route}");
            by_class.entry(class).or_default().push((rate, burst));
        }
        let classes: Vec<_> = by_class.values().collect();
        assert_eq!(classes.len(), 3);
        for pair in classes.windows(2) {
            let (generous, tight) = (pair[0], pair[1]);
            for (rate, burst) in tight {
                assert!(generous.iter().all(|(r, b)| r > rate && b > burst), "{by_class:?}");
            }
        }
        // Anything unlisted falls to the tightest figures.
        let fallback = &api["DefaultRouteSettings"];
        let admin = &by_class["3 admin"];
        assert!(admin
            .iter()
            .all(|(r, _)| default_of(&t, &fallback["ThrottlingRateLimit"]) <= *r));
        assert!(admin
            .iter()
            .all(|(_, b)| default_of(&t, &fallback["ThrottlingBurstLimit"]) <= *b));
    }

    /// Other functions' bursts can never take the webhook's concurrency.
    #[test]
    fn the_webhook_has_concurrency_of_its_own() {
        let t = project_template();
        let webhook = &t.resources["WebhookFunction"].properties;
        let reserved = &webhook["ReservedConcurrentExecutions"];
        assert!(default_of(&t, reserved) >= 10.0);
        let name = reserved["Ref"].as_str().unwrap();
        // Zero would stop the webhook altogether.
        assert!(t.parameters[name]["MinValue"].as_i64().unwrap() >= 1);
    }

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

    #[test]
    fn every_function_reads_the_pseudonym_key_set_from_its_own_secret() {
        let t = project_template();
        assert_eq!(
            t.globals["Function"]["Environment"]["Variables"]["PSEUDONYM_SECRET_ARN"]["Ref"],
            "PseudonymSecretArn"
        );
        let mut checked = 0;
        for (name, f) in t.of_type("AWS::Serverless::Function") {
            let statements = f.properties["Policies"][0]["Statement"].as_array().unwrap();
            assert!(
                statements
                    .iter()
                    .any(|st| st["Action"] == "secretsmanager:GetSecretValue"
                        && st["Resource"]["Ref"] == "PseudonymSecretArn"),
                "{name} cannot read the pseudonym keys"
            );
            checked += 1;
        }
        assert_eq!(checked, 8);
    }

    #[test]
    fn every_dead_letter_queue_raises_an_alarm() {
        let t = project_template();
        let alarmed: std::collections::BTreeSet<String> = t
            .of_type("AWS::CloudWatch::Alarm")
            .filter_map(|(_, a)| {
                let d = a.properties["Dimensions"].as_array()?.first()?.clone();
                (d["Name"] == "QueueName").then(|| d["Value"]["Fn::GetAtt"][0].as_str().map(str::to_string))?
            })
            .collect();
        let dlqs: Vec<&String> = t
            .resources
            .values()
            .filter_map(|r| r.properties["RedrivePolicy"]["deadLetterTargetArn"]["Fn::GetAtt"][0].as_str())
            .map(|q| t.resources.keys().find(|k| k.as_str() == q).unwrap())
            .collect();
        assert!(dlqs.len() >= 5);
        for q in dlqs {
            assert!(alarmed.contains(q), "{q} has no alarm");
        }
    }
}
