//! `optcast-local`: the whole system on one machine (see `make dev`).

use std::net::SocketAddr;

use anyhow::Context;
use optcast_local::{settings, start, StackOptions};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber_init();
    let port: u16 = std::env::var("PORT").ok().and_then(|p| p.parse().ok()).unwrap_or(3000);
    let root = std::env::var("OPTCAST_ROOT").unwrap_or_else(|_| ".".into());
    let mut opts = StackOptions::new(
        std::env::var("OPTCAST_PREFIX").unwrap_or_else(|_| "optcast".into()),
        format!("{root}/template.yaml"),
    );
    opts.addr = SocketAddr::from(([127, 0, 0, 1], port));
    opts.retry_visibility_secs = std::env::var("OPTCAST_RETRY_VISIBILITY_SECS")
        .ok()
        .and_then(|v| v.parse().ok());
    // The README's configuration, as set for `make dev`: handed to every
    // function, or said at start why not.
    let env = |name: &str| std::env::var(name).ok();
    opts.overrides.extend(settings::overrides_from(env));
    // `OPTCAST_SIGN_IN=oidc`: sign in as in AWS, through a fake identity
    // provider, behind the emulated JWT authorizer (the admin token is off).
    let oidc = env("OPTCAST_SIGN_IN").as_deref() == Some("oidc");
    for line in settings::ignored_settings(env, oidc) {
        eprintln!("  note: {line}");
    }
    let idp = if oidc {
        let idp = optcast_local::fake_oidc::FakeOidc::start(opts.clock.clone()).await?;
        for (name, value) in [
            ("AdminJwtIssuer", idp.issuer()),
            ("AdminJwtAudience", "optcast-console"),
            ("ConsoleOidcClientId", "optcast-console"),
        ] {
            opts.parameters.insert(name.into(), value.into());
        }
        Some(idp)
    } else {
        None
    };
    // Ctrl-C, or SIGTERM from a supervisor (`make dev` passes its own on),
    // listened for before the stack starts.
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    let aws = optcast_shared::config::aws().await;
    let stack = start(&opts, &aws)
        .await
        .context("starting the local stack (is the emulator running? see `make dev`)")?;
    if let Some(idp) = &idp {
        idp.register_client("optcast-console", &[&stack.url("/console/callback")]);
        eprintln!("  console sign-in: OIDC through the fake provider at {}", idp.issuer());
    }
    for (logical, p) in &stack.provisioned.resources {
        eprintln!("  {logical:<24} {}", p.reference);
    }
    for r in &stack.provisioned.routes {
        eprintln!("  {:<6} http://{}{} -> {}", r.method, stack.addr, r.path, r.function);
    }
    eprintln!("  metrics: CloudWatch EMF lines ({{\"_aws\":…}}) on stdout, one per sender/ingest batch");
    eprintln!("optcast local stack listening on http://{} (Ctrl-C stops)", stack.addr);
    tokio::select! {
        r = tokio::signal::ctrl_c() => r?,
        _ = term.recv() => {}
    }
    eprintln!("stopping");
    stack.stop().await;
    Ok(())
}

fn tracing_subscriber_init() {
    optcast_shared::telemetry::init();
}
