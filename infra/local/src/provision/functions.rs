//! The template's functions wired: each one's environment, its HTTP routes
//! and authorizers, its SQS event sources and its schedules.

use std::collections::BTreeMap;

use anyhow::anyhow;

use super::intrinsics::{resolve, str_of};
use super::{FunctionSpec, HttpRoute, Provisioned, Provisioner, QueueSource, ScheduleSource};

impl Provisioner<'_> {
    pub(super) fn functions(&self, out: &mut Provisioned) -> anyhow::Result<()> {
        let global_env = self.template.globals["Function"]["Environment"]["Variables"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (logical, r) in self.template.of_type("AWS::Serverless::Function") {
            let code_uri = str_of(&r.properties["CodeUri"]);
            let name = code_uri
                .trim_end_matches('/')
                .rsplit('/')
                .next()
                .unwrap_or(logical)
                .to_string();
            let mut env = BTreeMap::new();
            let vars = r.properties["Environment"]["Variables"]
                .as_object()
                .cloned()
                .unwrap_or_default();
            for (k, v) in global_env.iter().chain(vars.iter()) {
                if let Some(value) = resolve(v, out, self.template) {
                    env.insert(k.clone(), value);
                }
            }
            for event in r.properties["Events"].as_object().into_iter().flat_map(|m| m.values()) {
                let p = &event["Properties"];
                match event["Type"].as_str() {
                    Some("HttpApi") | Some("Api") => out.routes.push(HttpRoute {
                        method: str_of(&p["Method"]).to_ascii_uppercase(),
                        path: str_of(&p["Path"]),
                        function: name.clone(),
                        authorizer: p["Auth"]["Authorizer"].as_str().map(str::to_string),
                        scopes: p["Auth"]["AuthorizationScopes"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|s| s.as_str().map(str::to_string))
                            .collect(),
                    }),
                    Some("SQS") => {
                        let queue_arn = resolve(&p["Queue"], out, self.template)
                            .ok_or_else(|| anyhow!("{logical}: unresolved queue"))?;
                        let queue = out
                            .resources
                            .values()
                            .find(|q| q.arn == queue_arn)
                            .ok_or_else(|| anyhow!("{logical}: unknown queue"))?;
                        out.queue_sources.push(QueueSource {
                            function: name.clone(),
                            queue_url: queue.reference.clone(),
                            queue_arn,
                            batch_size: p["BatchSize"].as_i64().unwrap_or(10).clamp(1, 10) as i32,
                        });
                    }
                    Some("Schedule") | Some("ScheduleV2") => {
                        let expr = str_of(if p["Schedule"].is_null() {
                            &p["ScheduleExpression"]
                        } else {
                            &p["Schedule"]
                        });
                        if let Some(every) = parse_rate(&expr) {
                            out.schedules.push(ScheduleSource {
                                function: name.clone(),
                                every,
                            });
                        }
                    }
                    _ => {}
                }
            }
            let policy = crate::iam::statements(&r.properties["Policies"], |v| resolve(v, out, self.template));
            out.functions.insert(name.clone(), FunctionSpec { name, env, policy });
        }
        Ok(())
    }
}

/// `rate(1 minute)` and friends; cron expressions are not run locally.
fn parse_rate(expr: &str) -> Option<std::time::Duration> {
    let inner = expr.strip_prefix("rate(")?.strip_suffix(')')?;
    let (n, unit) = inner.split_once(' ')?;
    let n: u64 = n.parse().ok()?;
    let secs = match unit.trim_end_matches('s') {
        "second" => n,
        "minute" => n * 60,
        "hour" => n * 3600,
        "day" => n * 86_400,
        _ => return None,
    };
    Some(std::time::Duration::from_secs(secs))
}
