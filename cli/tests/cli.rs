//! The real `optcast` binary against the whole local stack (real handlers,
//! the emulator, the fake Graph API): what a script sees on stdout, stderr
//! and in the exit code.

mod support;

use std::process::Command;

use optcast_tests::*;
use support::{leads, optcast, optcast_with};

const PAGE: &str = "1000000000000901";

#[tokio::test]
async fn a_broadcast_is_previewed_created_listed_watched_to_done_and_explained_with_the_cli() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let all = leads("2091", 3);
    app.seed_leads(PAGE, &all).await;

    let preview = optcast(
        &app,
        &["broadcast", "preview", "--page", PAGE, "--text", "Spring sale!"],
    )
    .await;
    assert_eq!(preview.code, 0, "{}", preview.stderr);
    assert!(preview.stdout.starts_with("audience 3 "), "{}", preview.stdout);
    assert!(preview.stdout.contains("[Unsubscribe]"), "{}", preview.stdout);

    let create = optcast(
        &app,
        &[
            "broadcast",
            "create",
            "--page",
            PAGE,
            "--text",
            "Spring sale!",
            "--name",
            "spring",
        ],
    )
    .await;
    assert_eq!(create.code, 0, "{}", create.stderr);
    let id = create.stdout.clone();
    assert_eq!(id.lines().count(), 1, "only the id on stdout: {id}");

    let list = optcast(&app, &["broadcast", "list", "--page", PAGE]).await;
    assert_eq!(list.code, 0, "{}", list.stderr);
    assert!(
        list.stdout
            .lines()
            .nth(1)
            .is_some_and(|l| l.contains(&id) && l.contains("spring")),
        "{}",
        list.stdout
    );

    let watch = optcast(&app, &["broadcast", "watch", &id, "--interval-ms", "200"]).await;
    assert_eq!(watch.code, 0, "{}", watch.stderr);
    assert!(watch.stdout.contains(": done"), "{}", watch.stdout);
    assert!(watch.stdout.contains("sent 3,"), "{}", watch.stdout);
    assert_eq!(all.iter().map(|p| app.sends_to(p)).sum::<usize>(), 3);

    let why = optcast(&app, &["broadcast", "why", &id, &all[1]]).await;
    assert_eq!(why.code, 0, "{}", why.stderr);
    assert!(
        why.stdout
            .contains(&format!("lead {} in broadcast {id}: sent at ", all[1])),
        "{}",
        why.stdout
    );

    let shown = optcast(&app, &["broadcast", "show", &id, "--json"]).await;
    assert_eq!(shown.json()["counts"]["sent"], 3);
    app.stack.stop().await;
}

#[tokio::test]
async fn a_broadcast_is_paused_and_resumed_with_the_cli_and_watch_tells_a_pause_from_done() {
    let mut app = spawn_app_with(|o| o.held_functions = vec!["sender".into()]).await;
    app.register_page(PAGE).await;
    let all = leads("2092", 2);
    app.seed_leads(PAGE, &all).await;
    let id = optcast(&app, &["broadcast", "create", "--page", PAGE, "--text", "Hold on"])
        .await
        .stdout;
    eventually("planned", || async {
        app.broadcast(&id).await["counts"]["queued"] == all.len()
    })
    .await;

    let pause = optcast(&app, &["broadcast", "pause", &id]).await;
    assert_eq!(
        (pause.code, pause.stdout.lines().next()),
        (0, Some(format!("broadcast {id}: paused").as_str()))
    );
    let watch = optcast(&app, &["broadcast", "watch", &id]).await;
    assert_eq!(watch.code, 9, "a paused broadcast is not done: {}", watch.stderr);
    assert!(
        watch
            .stderr
            .contains("error: the broadcast ended paused, not done (not_done)"),
        "{}",
        watch.stderr
    );

    let resume = optcast(&app, &["broadcast", "resume", &id]).await;
    assert_eq!(resume.code, 0, "{}", resume.stderr);
    app.stack.resume("sender");
    let watch = optcast(&app, &["broadcast", "watch", &id, "--interval-ms", "200"]).await;
    assert_eq!(watch.code, 0, "{}", watch.stderr);
    assert_eq!(all.iter().map(|p| app.sends_to(p)).collect::<Vec<_>>(), [1, 1]);
    app.stack.stop().await;
}

#[tokio::test]
async fn a_lead_is_shown_with_consent_history_tagged_and_erased_with_the_cli() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let lead = "2093000000000001";
    app.say(PAGE, lead, "m_cli_hi", "hi").await;

    let tag = optcast(&app, &["subscriber", "tag", "add", "--page", PAGE, lead, "spring sale"]).await;
    assert_eq!(
        (tag.code, tag.stdout.as_str()),
        (0, format!("{lead}: tag spring sale added").as_str()),
        "{}",
        tag.stderr
    );
    let show = optcast(&app, &["subscriber", "show", "--page", PAGE, lead]).await;
    assert_eq!(show.code, 0, "{}", show.stderr);
    assert!(show.stdout.contains("status        subscribed"), "{}", show.stdout);
    assert!(show.stdout.contains("tags          spring sale"), "{}", show.stdout);
    assert!(
        show.stdout
            .lines()
            .any(|l| l.contains("subscribed") && l.contains("first_contact")),
        "{}",
        show.stdout
    );
    let list = optcast(
        &app,
        &["subscriber", "list", "--page", PAGE, "--tag", "spring sale", "--json"],
    )
    .await;
    assert_eq!(list.json()["subscribers"][0]["psid"], lead);

    let unconfirmed = optcast(&app, &["erase", "--page", PAGE, lead]).await;
    assert_eq!(unconfirmed.code, 2, "erasure needs --yes");
    assert_eq!(app.status(PAGE, lead).await, "subscribed");
    let erase = optcast(&app, &["erase", "--page", PAGE, lead, "--yes", "--wait"]).await;
    assert_eq!(erase.code, 0, "{}", erase.stderr);
    assert!(erase.stdout.contains(": completed"), "{}", erase.stdout);
    let gone = optcast(&app, &["subscriber", "show", "--page", PAGE, lead]).await;
    assert_eq!(gone.code, 4, "{} {}", gone.stdout, gone.stderr);
    app.stack.stop().await;
}

#[tokio::test]
async fn api_errors_end_in_words_and_in_an_exit_code_per_class() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;

    let unauthorised = optcast_with(&app, "wrong-token", &["broadcast", "list", "--page", PAGE]).await;
    assert_eq!(unauthorised.code, 3);
    assert_eq!(
        unauthorised.stderr,
        "error: missing or invalid bearer token (unauthorized)"
    );
    assert_eq!(unauthorised.stdout, "", "no JSON dump without --json");

    let missing = optcast(&app, &["broadcast", "show", "00000000000000000000000000000000"]).await;
    assert_eq!(missing.code, 4, "{}", missing.stderr);
    assert!(
        missing.stderr.starts_with("error: ") && missing.stderr.ends_with("(not_found)"),
        "{}",
        missing.stderr
    );

    let later = [
        "broadcast",
        "create",
        "--page",
        PAGE,
        "--text",
        "Later",
        "--send-at",
        "2099-01-01T00:00:00Z",
    ];
    let id = optcast(&app, &later).await.stdout;
    let conflict = optcast(&app, &["broadcast", "pause", &id]).await;
    assert_eq!(conflict.code, 5, "{}", conflict.stderr);
    assert!(conflict.stderr.ends_with("(not_pausable)"), "{}", conflict.stderr);

    let rejected = optcast(&app, &["subscriber", "show", "--page", PAGE, "not-a-psid", "--json"]).await;
    assert_eq!(rejected.code, 6);
    assert_eq!(
        rejected.json()["error"]["code"],
        "invalid_psid",
        "--json prints the error object"
    );
    assert_eq!(rejected.json()["error"]["status"], 400);

    let no_page = optcast(&app, &["broadcast", "list"]).await;
    assert_eq!(no_page.code, 2, "{}", no_page.stderr);
    assert!(no_page.stderr.contains("no page"), "{}", no_page.stderr);
    app.stack.stop().await;
}

#[test]
fn no_token_and_no_server_have_their_own_exit_codes() {
    let run = |envs: &[(&str, &str)], args: &[&str]| {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_optcast"));
        cmd.args(args)
            .env_remove("OPTCAST_ADMIN_TOKEN")
            .env_remove("OPTCAST_ENDPOINT")
            .env("OPTCAST_CONFIG", "/nonexistent/optcast.toml");
        cmd.envs(envs.iter().copied());
        let out = cmd.output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    let (code, stderr) = run(&[], &["broadcast", "show", "x"]);
    assert_eq!(code, Some(3), "{stderr}");
    assert!(stderr.contains("OPTCAST_ADMIN_TOKEN"), "{stderr}");
    // Port 9 (discard) on loopback: nothing listens there.
    let (code, stderr) = run(
        &[("OPTCAST_ADMIN_TOKEN", "t"), ("OPTCAST_ENDPOINT", "http://127.0.0.1:9")],
        &["broadcast", "show", "x"],
    );
    assert_eq!(code, Some(8), "{stderr}");
    assert!(
        stderr.starts_with("error: no answer from http://127.0.0.1:9/"),
        "{stderr}"
    );
    let (code, _) = run(&[], &["broadcast", "frobnicate"]);
    assert_eq!(code, Some(2));
}

#[test]
fn a_profile_file_supplies_endpoint_token_and_page_and_the_environment_overrides_it() {
    let dir = std::env::temp_dir().join(format!("optcast-cli-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("config.toml");
    std::fs::write(
        &file,
        "[default]\nendpoint = \"http://127.0.0.1:9\"\ntoken = \"t\"\n\n[other]\nendpoint = \"http://127.0.0.1:7\"\ntoken = \"t\"\n",
    )
    .unwrap();
    let run = |envs: &[(&str, &str)], args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_optcast"))
            .args(args)
            .env_remove("OPTCAST_ADMIN_TOKEN")
            .env_remove("OPTCAST_ENDPOINT")
            .env_remove("OPTCAST_PROFILE")
            .env("OPTCAST_CONFIG", &file)
            .envs(envs.iter().copied())
            .output()
            .unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
    };
    // Nothing listens on either port: the error names the endpoint in force.
    let (code, stderr) = run(&[], &["broadcast", "show", "x"]);
    assert_eq!(code, Some(8));
    assert!(stderr.contains("http://127.0.0.1:9/"), "{stderr}");
    let (_, stderr) = run(&[], &["--profile", "other", "broadcast", "show", "x"]);
    assert!(stderr.contains("http://127.0.0.1:7/"), "{stderr}");
    let (_, stderr) = run(
        &[("OPTCAST_ENDPOINT", "http://127.0.0.1:5")],
        &["broadcast", "show", "x"],
    );
    assert!(stderr.contains("http://127.0.0.1:5/"), "{stderr}");
    let (code, stderr) = run(&[], &["--profile", "nope", "broadcast", "show", "x"]);
    assert_eq!(code, Some(2), "{stderr}");
    std::fs::remove_dir_all(&dir).unwrap();
}
