//! The functions the local stack can run: the very handler types Lambda runs,
//! built from the environment `template.yaml` gives each function.

use std::collections::BTreeMap;

use optcast_shared::clock::Clock;
use std::sync::Arc;

use anyhow::{anyhow, Context};
use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use lambda_http::{Body, Request, Response};

use crate::provision::Provisioned;

#[derive(Clone)]
pub enum Function {
    Webhook(Arc<webhook::Webhook>),
    Ingest(Arc<ingest::Ingest>),
    Api(Arc<api::Api>),
    Planner(Arc<planner::Planner>),
    Sender(Arc<sender::Sender>),
    Scheduler(Arc<scheduler::Scheduler>),
    Eraser(Arc<eraser::Eraser>),
    Sweeper(Arc<sweeper::Sweeper>),
}

/// Values the runner adds to every function's environment: secrets and
/// endpoints that in AWS come from Secrets Manager or deployment parameters.
pub type Overrides = BTreeMap<String, String>;

impl Function {
    pub async fn build(
        name: &str,
        env: BTreeMap<String, String>,
        aws: &aws_config::SdkConfig,
        clock: &Clock,
        metrics: &optcast_shared::metrics::Sink,
    ) -> anyhow::Result<Option<Self>> {
        let source = move |k: &str| env.get(k).cloned().filter(|v| !v.is_empty());
        Ok(match name {
            "webhook" => Some(Function::Webhook(Arc::new(
                webhook::Webhook::from_source(&source, aws)
                    .await
                    .context("configuring webhook")?
                    .with_clock(clock.clone()),
            ))),
            "ingest" => Some(Function::Ingest(Arc::new(
                ingest::Ingest::from_source(&source, aws)
                    .context("configuring ingest")?
                    .with_metrics(metrics.clone()),
            ))),
            "api" => Some(Function::Api(Arc::new(
                api::Api::from_source(&source, aws).context("configuring api")?,
            ))),
            "planner" => Some(Function::Planner(Arc::new(
                planner::Planner::from_source(&source, aws).context("configuring planner")?,
            ))),
            "sender" => Some(Function::Sender(Arc::new(
                sender::Sender::from_source(&source, aws)
                    .context("configuring sender")?
                    .with_metrics(metrics.clone()),
            ))),
            "scheduler" => Some(Function::Scheduler(Arc::new(
                scheduler::Scheduler::from_source(&source, aws)
                    .context("configuring scheduler")?
                    .with_clock(clock.clone()),
            ))),
            "eraser" => Some(Function::Eraser(Arc::new(
                eraser::Eraser::from_source(&source, aws)
                    .await
                    .context("configuring eraser")?,
            ))),
            "sweeper" => Some(Function::Sweeper(Arc::new(
                sweeper::Sweeper::from_source(&source, aws)
                    .context("configuring sweeper")?
                    .with_clock(clock.clone()),
            ))),
            _ => None,
        })
    }

    pub async fn call_http(&self, req: Request) -> Option<Response<Body>> {
        match self {
            Function::Webhook(f) => Some(f.handle(req).await),
            Function::Api(f) => Some(f.handle(req).await),
            _ => None,
        }
    }

    pub async fn call_sqs(&self, event: SqsEvent) -> Option<SqsBatchResponse> {
        match self {
            Function::Ingest(f) => Some(f.handle(event).await),
            Function::Planner(f) => Some(f.handle(event).await),
            Function::Sender(f) => Some(f.handle(event).await),
            Function::Eraser(f) => Some(f.handle(event).await),
            _ => None,
        }
    }

    /// A scheduled (EventBridge) invocation; the result as JSON.
    pub async fn call_scheduled(
        &self,
        event: aws_lambda_events::event::eventbridge::EventBridgeEvent<serde_json::Value>,
    ) -> Option<Result<serde_json::Value, String>> {
        match self {
            Function::Scheduler(f) => Some(
                f.handle(event)
                    .await
                    .map(|r| serde_json::to_value(r).unwrap_or_default())
                    .map_err(|e| e.to_string()),
            ),
            Function::Sweeper(f) => Some(
                f.handle(event)
                    .await
                    .map(|r| serde_json::to_value(r).unwrap_or_default())
                    .map_err(|e| e.to_string()),
            ),
            _ => None,
        }
    }
}

/// Builds every function the template declares that this runner knows;
/// those that publish metrics publish them to `metrics`.
pub async fn build_all(
    provisioned: &Provisioned,
    overrides: &Overrides,
    aws: &aws_config::SdkConfig,
    per_function: &BTreeMap<String, aws_config::SdkConfig>,
    clock: &Clock,
    metrics: &optcast_shared::metrics::Sink,
) -> anyhow::Result<BTreeMap<String, Function>> {
    let mut out = BTreeMap::new();
    for (name, spec) in &provisioned.functions {
        let mut env = spec.env.clone();
        env.extend(overrides.iter().map(|(k, v)| (k.clone(), v.clone())));
        match Function::build(name, env, per_function.get(name).unwrap_or(aws), clock, metrics).await? {
            Some(f) => {
                out.insert(name.clone(), f);
            }
            None => tracing::warn!(function = %name, "template declares a function this runner does not know"),
        }
    }
    if out.is_empty() {
        return Err(anyhow!("no runnable functions in the template"));
    }
    Ok(out)
}
