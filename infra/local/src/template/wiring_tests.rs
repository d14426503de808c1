//! How the template wires the functions: queue visibility against timeouts,
//! route scopes and throttles, the webhook's own concurrency, each function's
//! pseudonym secret, and an alarm on every quarantine and dead-letter queue.

use std::collections::BTreeMap;

use serde_json::Value;

use super::test_support::{project_template, text};
use super::Template;

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

/// Meta's data-deletion callback is answered by the webhook and erased by the
/// eraser, which maps its app-scoped id with the app's id: a stack deployed
/// without one would answer every callback and never erase. So the id is
/// required, and must look like one.
#[test]
fn the_meta_app_id_must_be_given_so_a_deletion_callback_can_be_completed() {
    let t = project_template();
    let p = &t.parameters["MetaAppId"];
    assert!(p.get("Default").is_none(), "MetaAppId has a default: {p}");
    let pattern = p["AllowedPattern"].as_str().expect("MetaAppId.AllowedPattern");
    assert_eq!(pattern, "^[1-9][0-9]{0,19}$");
}

/// The sender records a job's last try (`retries_exhausted`), and the planner
/// pauses the broadcast of a plan job's last try, only if each knows which
/// receive is the last: `SEND_MAX_RECEIVES` and `PLAN_MAX_RECEIVES` are their
/// queues' `maxReceiveCount`, or jobs go to the dead-letter queue and their
/// broadcasts never finish.
#[test]
fn the_sender_and_the_planner_know_their_queues_last_receive() {
    let t = project_template();
    for (function, variable, queue) in [
        ("SenderFunction", "SEND_MAX_RECEIVES", "SendQueue"),
        ("PlannerFunction", "PLAN_MAX_RECEIVES", "PlanQueue"),
    ] {
        let f = &t.resources[function].properties;
        let q = &t.resources[queue].properties;
        let last = q["RedrivePolicy"]["maxReceiveCount"].as_f64();
        assert!(last.is_some(), "{queue} has no maxReceiveCount");
        assert_eq!(f["Environment"]["Variables"][variable].as_f64(), last, "{function}");
    }
}
