//! The command line's definition: what parses, what is refused.

use clap::CommandFactory;

use super::*;

fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
    Cli::try_parse_from(std::iter::once("optcast").chain(args.iter().copied()))
}

#[test]
fn the_command_line_definition_is_consistent() {
    Cli::command().debug_assert();
}

#[test]
fn create_takes_text_tags_quick_replies_and_a_schedule() {
    let cli = parse(&[
        "broadcast",
        "create",
        "--page",
        "1",
        "--text",
        "Spring sale!",
        "--tag",
        "spring",
        "--tag",
        "vip",
        "--quick-reply",
        "Shop=SHOP",
        "--send-at",
        "2027-06-01T09:00:00Z",
    ])
    .unwrap();
    assert_eq!(cli.page.as_deref(), Some("1"));
    let Command::Broadcast(BroadcastCmd::Create(b)) = cli.command else {
        panic!("not create")
    };
    assert_eq!(b.text.as_deref(), Some("Spring sale!"));
    assert_eq!(b.tags, ["spring", "vip"]);
    assert_eq!(b.quick_replies, [("Shop".to_string(), "SHOP".to_string())]);
    assert_eq!(b.send_at.as_deref(), Some("2027-06-01T09:00:00Z"));
}

#[test]
fn create_needs_a_message_and_refuses_two() {
    assert!(parse(&["broadcast", "create"]).is_err());
    let both = parse(&["broadcast", "create", "--text", "x", "--message-file", "m.json"]);
    assert_eq!(both.unwrap_err().kind(), clap::error::ErrorKind::ArgumentConflict);
}

#[test]
fn a_quick_reply_without_a_payload_is_refused() {
    let e = parse(&["broadcast", "create", "--text", "x", "--quick-reply", "Shop"]).unwrap_err();
    assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation);
}

#[test]
fn global_flags_may_follow_the_subcommand() {
    let cli = parse(&["broadcast", "show", "abc", "--json", "--endpoint", "http://x:1"]).unwrap();
    assert!(cli.json);
    assert_eq!(cli.endpoint.as_deref(), Some("http://x:1"));
}

#[test]
fn list_filters_by_known_states_only() {
    let cli = parse(&["broadcast", "list", "--state", "paused"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Broadcast(BroadcastCmd::List {
            state: Some(State::Paused),
            ..
        })
    ));
    assert!(parse(&["broadcast", "list", "--state", "stuck"]).is_err());
}

#[test]
fn a_test_send_names_one_to_ten_psids() {
    assert!(parse(&["broadcast", "test", "abc"]).is_err());
    let eleven: Vec<String> = (0..11).map(|i| format!("{}", 2000 + i)).collect();
    let mut args = vec!["broadcast", "test", "abc"];
    args.extend(eleven.iter().map(String::as_str));
    assert!(parse(&args).is_err());
    assert!(parse(&args[..13]).is_ok());
}

#[test]
fn protection_needs_both_thresholds() {
    let one = parse(&["page", "connect", "--access-token", "t", "--max-negative-rate", "0.02"]);
    assert_eq!(one.unwrap_err().kind(), clap::error::ErrorKind::MissingRequiredArgument);
    assert!(parse(&[
        "page",
        "put",
        "--access-token",
        "t",
        "--max-negative-rate",
        "0.02",
        "--min-sends",
        "200"
    ])
    .is_ok());
}

#[test]
fn watch_takes_a_timeout_as_people_write_durations() {
    let cli = parse(&["broadcast", "watch", "abc", "--timeout", "1m30s"]).unwrap();
    let Command::Broadcast(BroadcastCmd::Watch { timeout, .. }) = cli.command else {
        panic!("not watch")
    };
    assert_eq!(timeout, Some(std::time::Duration::from_secs(90)));
    let cli = parse(&["broadcast", "watch", "abc"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Broadcast(BroadcastCmd::Watch { timeout: None, .. })
    ));
    for bad in ["90", "soon", "5 parsecs"] {
        let e = parse(&["broadcast", "watch", "abc", "--timeout", bad]).unwrap_err();
        assert_eq!(e.kind(), clap::error::ErrorKind::ValueValidation, "{bad}");
    }
}

#[test]
fn page_show_takes_the_page_or_falls_back_to_the_page_in_force() {
    let cli = parse(&["page", "show", "1000000000000001"]).unwrap();
    assert!(matches!(
        cli.command,
        Command::Page(PageCmd::Show { page_id: Some(ref p) }) if p == "1000000000000001"
    ));
    let cli = parse(&["page", "show", "--page", "7"]).unwrap();
    assert!(matches!(cli.command, Command::Page(PageCmd::Show { page_id: None })));
    assert!(parse(&["page", "list", "--limit", "10"]).is_ok());
}

#[test]
fn a_page_change_may_leave_the_token_out() {
    assert!(parse(&["page", "connect", "--region", "EU"]).is_ok());
}

#[test]
fn the_help_documents_exit_codes_and_settings() {
    let help = Cli::command().render_long_help().to_string();
    assert!(help.contains("Exit codes:"), "{help}");
    assert!(help.contains("OPTCAST_ADMIN_TOKEN"), "{help}");
    assert!(help.contains("config.toml"), "{help}");
}
