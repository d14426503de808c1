//! The local stack: provisions `template.yaml` in the AWS emulator, then runs
//! the same handler code Lambda runs behind a local HTTP front and SQS pollers.

pub mod counting_proxy;
pub mod cpu;
pub mod fake_graph;
pub mod fake_oidc;
pub mod functions;
pub mod iam;
pub mod jwt_authorizer;
pub mod poller;
pub mod provision;
pub mod server;
pub mod settings;
pub mod stats;
pub mod template;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use functions::{Function, Overrides};
pub use provision::{Provisioned, Provisioner};
pub use template::Template;

#[derive(Debug, Clone)]
pub struct StackOptions {
    /// Resource name prefix (one per developer stack, one per test).
    pub prefix: String,
    pub template: PathBuf,
    pub addr: SocketAddr,
    /// Extra environment for every function (secrets, endpoints).
    pub overrides: Overrides,
    pub retry_visibility_secs: Option<i32>,
    pub pollers_per_queue: usize,
    /// Fire scheduled functions on their `rate(...)` (tests invoke them instead).
    pub fire_schedules: bool,
    /// Functions whose queues are not polled until `RunningStack::resume`
    /// (lets a test interleave events deliberately).
    pub held_functions: Vec<String>,
    /// AWS configuration for particular functions (e.g. through a counting
    /// proxy); the others, and the pollers, use the stack's.
    pub function_aws: std::collections::BTreeMap<String, aws_config::SdkConfig>,
    /// The clock of the scheduled functions and the data-deletion callback
    /// (a test moves it to run "days later"; their event times are capped
    /// at it).
    pub clock: optcast_shared::clock::Clock,
    /// Print the functions' metric lines (CloudWatch EMF, as Lambda would
    /// ship them) on stdout (`make dev`); they are recorded in
    /// [`RunningStack::metrics`] either way.
    pub metrics_to_stdout: bool,
    /// Template parameter values, as `sam deploy --parameter-overrides`
    /// gives them (e.g. `AdminJwtIssuer`, `AdminJwtAudience`,
    /// `ConsoleOidcClientId`); the others keep their defaults. With
    /// `AdminJwtIssuer` set, the stack authorizes the management routes as
    /// API Gateway's JWT authorizer does (`jwt_authorizer`).
    pub parameters: std::collections::BTreeMap<String, String>,
}

impl StackOptions {
    pub fn new(prefix: impl Into<String>, template: impl Into<PathBuf>) -> Self {
        Self {
            prefix: prefix.into(),
            template: template.into(),
            addr: SocketAddr::from(([127, 0, 0, 1], 3000)),
            overrides: Overrides::new(),
            retry_visibility_secs: None,
            pollers_per_queue: 2,
            fire_schedules: true,
            held_functions: Vec::new(),
            function_aws: Default::default(),
            clock: Default::default(),
            metrics_to_stdout: true,
            parameters: Default::default(),
        }
    }
}

pub struct RunningStack {
    held: Vec<poller::Poller>,
    rx: watch::Receiver<bool>,
    pub addr: SocketAddr,
    pub provisioned: Provisioned,
    /// The fake Graph API served at `/fake-graph` (used unless `GRAPH_API_URL` is set).
    pub graph: fake_graph::FakeGraph,
    /// The functions' clock ([`StackOptions::clock`]).
    pub clock: optcast_shared::clock::Clock,
    /// Every metric line (EMF document) the functions published.
    pub metrics: optcast_shared::metrics::Recorder,
    /// The functions' IAM policies, enforced on their AWS calls.
    pub iam: iam::Guard,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl RunningStack {
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    /// Starts polling the queues of a held function.
    pub fn resume(&mut self, function: &str) {
        let (now, later): (Vec<_>, Vec<_>) = std::mem::take(&mut self.held)
            .into_iter()
            .partition(|p| p.source.function == function);
        self.held = later;
        for p in now {
            self.tasks.push(tokio::spawn(p.run(self.rx.clone())));
        }
    }

    /// Stops the HTTP front and the pollers and waits for them.
    ///
    /// # Panics
    /// When a function made a call its role in the template does not allow
    /// (a test's stack must not hide one: AWS would refuse it).
    pub async fn stop(self) {
        let _ = self.shutdown.send(true);
        for t in self.tasks {
            let _ = t.await;
        }
        let denied = self.iam.denied();
        assert!(
            denied.is_empty(),
            "calls the template's IAM policies refuse: {denied:#?}"
        );
    }
}

/// Provisions the template's resources, then serves its functions.
pub async fn start(opts: &StackOptions, aws: &aws_config::SdkConfig) -> anyhow::Result<RunningStack> {
    let mut template = Template::load(&opts.template)?;
    for (name, value) in &opts.parameters {
        let Some(p) = template.parameters.get_mut(name).and_then(|p| p.as_object_mut()) else {
            anyhow::bail!("template.yaml has no parameter {name}");
        };
        p.insert("Default".into(), value.clone().into());
    }
    let provisioned = Provisioner::new(&template, &opts.prefix, aws).run().await?;
    serve(provisioned, opts, aws, true).await
}

/// Serves already-provisioned functions; `aws` is what the functions use (a
/// test can hand them an unreachable endpoint). Pollers are optional.
pub async fn serve(
    provisioned: Provisioned,
    opts: &StackOptions,
    aws: &aws_config::SdkConfig,
    with_pollers: bool,
) -> anyhow::Result<RunningStack> {
    // The functions' pseudonym key set (one per process, as in Lambda):
    // from the stack's environment overrides, else the process environment.
    let keys_source = |k: &str| opts.overrides.get(k).cloned().or_else(|| std::env::var(k).ok());
    optcast_shared::config::install_pseudonyms(&keys_source, aws)
        .await
        .map_err(|e| anyhow::anyhow!("pseudonym keys: {e}"))?;
    let listener = server::bind(opts.addr).await?;
    let addr = listener.local_addr()?;
    let mut overrides = opts.overrides.clone();
    // Behind a JWT authorizer the API reads the JWT's claims, as in AWS;
    // bearer tokens of its own would take precedence (auth.rs), so none.
    if !provisioned.authorizers.is_empty() {
        for name in ["OPTCAST_ADMIN_TOKEN", "OPTCAST_API_TOKENS", "OPTCAST_API_TOKENS_FILE"] {
            overrides.remove(name);
        }
    }
    overrides
        .entry("GRAPH_API_URL".into())
        .or_insert_with(|| format!("http://{addr}/fake-graph/v23.0"));
    // The data-deletion callback's ids are mapped with the app's token.
    overrides
        .entry("META_APP_ID".into())
        .or_insert_with(|| "1000000000000001".into());
    // Functions reach the emulator through a proxy that keeps moto's
    // DynamoDB transactions from undoing each other (see counting_proxy).
    // Each function signs with its own key, and the proxy refuses what its
    // role in the template would not allow (`iam`).
    let iam = provisioned.iam_guard();
    let function_aws = match aws.endpoint_url() {
        Some(emulator) => {
            let (url, _) = counting_proxy::start(emulator.to_string()).await?;
            counting_proxy::routed_through(aws, &url)
        }
        None => aws.clone(),
    };
    let per_function = provisioned
        .functions
        .keys()
        .map(|name| {
            let aws = opts.function_aws.get(name).unwrap_or(&function_aws);
            (name.clone(), iam::signing_as(aws, &provisioned.prefix, name))
        })
        .collect();
    let metrics = optcast_shared::metrics::Recorder::default();
    let sink = optcast_shared::metrics::Sink::recording(metrics.clone(), opts.metrics_to_stdout);
    let functions = functions::build_all(
        &provisioned,
        &overrides,
        &function_aws,
        &per_function,
        &opts.clock,
        &sink,
    )
    .await?;
    let graph = fake_graph::FakeGraph::new();
    if let Some(secret) = overrides.get("META_APP_SECRET") {
        graph.set_app_secret(secret);
    }
    let (shutdown, rx) = watch::channel(false);
    let mut tasks = Vec::new();
    let mut held = Vec::new();
    if with_pollers {
        let sqs = aws_sdk_sqs::Client::new(aws);
        for source in &provisioned.queue_sources {
            let Some(function) = functions.get(&source.function) else {
                continue;
            };
            for _ in 0..opts.pollers_per_queue.max(1) {
                let poller = poller::Poller {
                    sqs: sqs.clone(),
                    source: source.clone(),
                    function: function.clone(),
                    region: provisioned.region.clone(),
                    retry_visibility_secs: opts.retry_visibility_secs,
                };
                if opts.held_functions.contains(&source.function) {
                    held.push(poller);
                } else {
                    tasks.push(tokio::spawn(poller.run(rx.clone())));
                }
            }
        }
    }
    if opts.fire_schedules {
        for schedule in &provisioned.schedules {
            let Some(function) = functions.get(&schedule.function).cloned() else {
                continue;
            };
            let (every, mut stop) = (schedule.every, rx.clone());
            tasks.push(tokio::spawn(async move {
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep(every) => {}
                        _ = stop.changed() => return,
                    }
                    let mut event =
                        aws_lambda_events::event::eventbridge::EventBridgeEvent::<serde_json::Value>::default();
                    event.time = Some(chrono::Utc::now());
                    event.detail_type = "Scheduled Event".into();
                    event.source = "aws.events".into();
                    let _ = function.call_scheduled(event).await;
                }
            }));
        }
    }
    let router = Arc::new(server::Router {
        authorizers: provisioned
            .authorizers
            .iter()
            .map(|(name, cfg)| (name.clone(), Arc::new(jwt_authorizer::JwtAuthorizer::new(cfg.clone()))))
            .collect(),
        clock: opts.clock.clone(),
        routes: provisioned.routes.clone(),
        functions,
        graph: graph.clone(),
    });
    tasks.push(tokio::spawn(server::serve(listener, router, rx.clone())));

    Ok(RunningStack {
        held,
        rx,
        addr,
        provisioned,
        graph,
        clock: opts.clock.clone(),
        metrics,
        iam,
        shutdown,
        tasks,
    })
}
