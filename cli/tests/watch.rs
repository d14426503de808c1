//! The real `optcast` binary on pages and on `broadcast watch`: the page
//! list and one page (table and `--json`), `--timeout`'s exit code, and the
//! progress as a terminal shows it (a pseudo-terminal from util-linux's
//! `script`) and as a pipe does (plain lines, no escape codes).

mod support;

use std::process::Command;

use optcast_tests::*;
use support::{leads, optcast};

const PAGE: &str = "1000000000000911";
const OTHER_PAGE: &str = "1000000000000912";

#[tokio::test]
async fn pages_connected_through_the_api_are_listed_and_shown_by_the_cli_as_text_and_json() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let region = optcast(
        &app,
        &[
            "page",
            "connect",
            "--page",
            OTHER_PAGE,
            "--access-token",
            "EAAG-x",
            "--region",
            "uk",
        ],
    )
    .await;
    assert_eq!(region.code, 0, "{}", region.stderr);
    // A change without the token keeps the region (what the CLI leaves out is kept).
    let change = optcast(
        &app,
        &["page", "connect", "--page", OTHER_PAGE, "--retention-days", "90"],
    )
    .await;
    assert_eq!(change.code, 0, "{}", change.stderr);
    assert!(
        change.stdout.contains("retention 90 days, region UK"),
        "{}",
        change.stdout
    );

    let list = optcast(&app, &["page", "list"]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    let lines: Vec<&str> = list.stdout.lines().collect();
    assert!(lines[0].starts_with("PAGE"), "{}", list.stdout);
    assert_eq!(lines.len(), 3, "a header and two pages: {}", list.stdout);
    let row = |page: &str| lines.iter().find(|l| l.starts_with(page)).copied().unwrap_or_default();
    assert!(
        row(PAGE).contains("connected") && row(PAGE).contains("30 days"),
        "{}",
        list.stdout
    );
    assert!(
        row(OTHER_PAGE).contains("90 days") && row(OTHER_PAGE).contains("UK"),
        "{}",
        list.stdout
    );
    assert!(!list.stdout.contains(PAGE_TOKEN) && !list.stdout.contains("EAAG-x"));

    let json = optcast(&app, &["page", "list", "--json", "--limit", "1"]).await.json();
    assert_eq!(json["pages"].as_array().map(Vec::len), Some(1), "{json}");
    let next = json["next_cursor"].as_str().expect("a next page").to_string();
    let rest = optcast(&app, &["page", "list", "--json", "--cursor", &next])
        .await
        .json();
    assert_eq!(rest["pages"].as_array().map(Vec::len), Some(1), "{rest}");
    assert_ne!(rest["pages"][0]["page_id"], json["pages"][0]["page_id"]);

    let show = optcast(&app, &["page", "show", OTHER_PAGE]).await;
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(
        show.stdout
            .starts_with(&format!("page        {OTHER_PAGE} (connected)")),
        "{}",
        show.stdout
    );
    assert!(show.stdout.contains("region      UK"), "{}", show.stdout);
    let shown = optcast(&app, &["page", "show", "--page", PAGE, "--json"]).await.json();
    assert_eq!(
        (shown["page_id"].as_str(), shown["token_set"].as_bool()),
        (Some(PAGE), Some(true))
    );

    let missing = optcast(&app, &["page", "show", "1000000000000999"]).await;
    assert_eq!(missing.code, 4, "not found: {}", missing.stderr);
    assert!(
        missing.stderr.contains("page not found (not_found)"),
        "{}",
        missing.stderr
    );
    app.stack.stop().await;
}

#[tokio::test]
async fn watch_gives_up_with_exit_code_10_when_its_timeout_runs_out_and_prints_plain_lines_to_a_pipe() {
    let mut app = spawn_app_with(|o| o.held_functions = vec!["sender".into()]).await;
    app.register_page(PAGE).await;
    let all = leads("2093", 2);
    app.seed_leads(PAGE, &all).await;
    let id = optcast(&app, &["broadcast", "create", "--page", PAGE, "--text", "Never sent"])
        .await
        .stdout;

    let watch = optcast(
        &app,
        &["broadcast", "watch", &id, "--timeout", "1s", "--interval-ms", "200"],
    )
    .await;
    assert_eq!(watch.code, 10, "timed out: {}", watch.stderr);
    assert!(
        watch
            .stderr
            .ends_with("error: gave up watching after 1s: the broadcast is still sending (timed_out)"),
        "{}",
        watch.stderr
    );
    assert!(
        watch.stdout.starts_with(&format!("broadcast {id}: sending")),
        "{}",
        watch.stdout
    );
    // Piped: plain progress lines, no bar, no escape codes.
    assert!(
        watch
            .stderr
            .lines()
            .next()
            .is_some_and(|l| l.starts_with("0/") && l.contains(" · sent 0")),
        "{}",
        watch.stderr
    );
    for out in [&watch.stdout, &watch.stderr] {
        assert!(
            !out.contains('\u{1b}') && !out.contains('\r'),
            "escape codes in a pipe: {out:?}"
        );
    }

    // --json: one document, the broadcast, and the same exit code.
    let json = optcast(&app, &["broadcast", "watch", &id, "--timeout", "300ms", "--json"]).await;
    assert_eq!((json.code, json.json()["state"].as_str()), (10, Some("sending")));

    // Time enough: it ends done, exit 0.
    app.stack.resume("sender");
    let done = optcast(
        &app,
        &["broadcast", "watch", &id, "--timeout", "60s", "--interval-ms", "200"],
    )
    .await;
    assert_eq!(done.code, 0, "{}", done.stderr);
    assert!(done.stdout.contains(": done"), "{}", done.stdout);
    assert!(
        done.stderr
            .lines()
            .last()
            .is_some_and(|l| l.starts_with("2/2 done · sent 2")),
        "{}",
        done.stderr
    );
    app.stack.stop().await;
}

/// `optcast args…` under a pseudo-terminal (`script -qec`, util-linux, on
/// every Debian): run, it shows what a person at a terminal would see,
/// escape codes and all (on `script`'s stdout).
fn in_a_terminal(app: &TestApp, args: &[&str]) -> Command {
    let quote = |s: &str| format!("'{}'", s.replace('\'', "'\\''"));
    let line = std::iter::once(env!("CARGO_BIN_EXE_optcast"))
        .chain(args.iter().copied())
        .map(quote)
        .collect::<Vec<_>>()
        .join(" ");
    let mut cmd = Command::new("script");
    cmd.args(["-qec", &format!("stty cols 120 rows 40; exec {line}"), "/dev/null"])
        .env("OPTCAST_ENDPOINT", app.url(""))
        .env("OPTCAST_ADMIN_TOKEN", ADMIN_TOKEN)
        .env("OPTCAST_CONFIG", "/nonexistent/optcast.toml")
        .env("TERM", "xterm")
        .env_remove("OPTCAST_PAGE")
        .env_remove("OPTCAST_PROFILE")
        .stdin(std::process::Stdio::null());
    cmd
}

#[tokio::test]
async fn watch_draws_a_progress_bar_with_the_counts_in_a_terminal_and_ends_with_the_final_counts() {
    let mut app = spawn_app_with(|o| o.held_functions = vec!["sender".into()]).await;
    app.register_page(PAGE).await;
    let all = leads("2094", 3);
    app.seed_leads(PAGE, &all).await;
    let id = optcast(
        &app,
        &["broadcast", "create", "--page", PAGE, "--text", "In a terminal"],
    )
    .await
    .stdout;
    eventually("planned", || async {
        app.broadcast(&id).await["counts"]["queued"] == all.len()
    })
    .await;

    let mut cmd = in_a_terminal(
        &app,
        &["broadcast", "watch", &id, "--interval-ms", "200", "--timeout", "60s"],
    );
    let watching = tokio::task::spawn_blocking(move || cmd.output().expect("script (util-linux) runs"));
    // A few polls with nothing sent, then the sends.
    tokio::time::sleep(std::time::Duration::from_millis(800)).await;
    app.stack.resume("sender");
    let out = watching.await.unwrap();
    let (code, screen) = (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    );
    assert_eq!(code, 0, "{screen}");
    // indicatif drew its bar: the template's brackets, the counts, and the
    // escape codes that redraw and finally clear it.
    assert!(
        screen.contains("0/3 sending · sent 0 · skipped 0 · failed 0"),
        "{screen:?}"
    );
    assert!(screen.contains("] 0/3 "), "the bar before the counts: {screen:?}");
    assert!(screen.contains("\u{1b}["), "no terminal control: {screen:?}");
    // Then the final answer, on plain lines of its own.
    let lines: Vec<&str> = screen.lines().map(|l| l.trim_end_matches('\r')).collect();
    let end = lines
        .iter()
        .rposition(|l| l.ends_with(&format!("broadcast {id}: done")));
    let end = end.unwrap_or_else(|| panic!("no final state line: {screen:?}"));
    assert!(lines[end].ends_with(&format!("broadcast {id}: done")), "{screen:?}");
    assert_eq!(
        lines.get(end + 1).copied(),
        Some("audience 3, queued 3, sent 3, skipped (unsubscribed) 0, skipped (policy) 0, failed 0"),
        "{screen:?}"
    );
    app.stack.stop().await;
}
