//! `optcast`: the management API from the command line. Settings come from
//! flags, the environment, then a profile (`config.rs`); every failure ends
//! with an exit code a script can use (`error.rs`).

mod args;
mod client;
mod commands;
mod config;
mod error;
mod render;
mod watch;

use std::process::ExitCode;

use clap::Parser;

use crate::error::CliError;

fn main() -> ExitCode {
    let cli = args::Cli::parse();
    let json = cli.json;
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(&CliError::Other(format!("starting the runtime: {e}")), json),
    };
    match runtime.block_on(run(cli)) {
        Ok(()) => ExitCode::from(error::code::OK),
        Err(e) => fail(&e, json),
    }
}

async fn run(cli: args::Cli) -> Result<(), CliError> {
    let given = config::Given {
        endpoint: cli.endpoint,
        token: cli.token,
        page: cli.page,
        profile: cli.profile,
    };
    let settings = config::load(&given)?;
    let token = settings.token.ok_or(CliError::NoToken)?;
    let api = client::Api::new(&settings.endpoint, token)?;
    let out = commands::Out { json: cli.json };
    commands::run(&api, settings.page.as_deref(), cli.command, &out).await
}

/// Prints the failure in words on stderr (and, with `--json`, as the
/// `{"error":{code,message}}` object on stdout, except after `watch` (ended
/// or timed out), which has printed the broadcast, its state included: one
/// JSON document); its exit code.
fn fail(e: &CliError, json: bool) -> ExitCode {
    if json && !matches!(e, CliError::NotDone(_) | CliError::TimedOut { .. }) {
        println!("{}", commands::pretty(&e.to_json()));
    }
    eprintln!("error: {e}");
    ExitCode::from(e.exit_code())
}
