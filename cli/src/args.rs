//! The command line (clap derive): global settings and one subcommand per
//! management API operation.

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::error::EXIT_CODES_HELP;

const SETTINGS_HELP: &str = "\
Settings, first found wins: flag, environment variable, the profile in the
profile file, default. The profile file is $OPTCAST_CONFIG, else
$XDG_CONFIG_HOME/optcast/config.toml, else ~/.config/optcast/config.toml,
one TOML table per profile with `endpoint`, `token` and `page` keys; the
profile is --profile, else OPTCAST_PROFILE, else `default`.";

/// The optcast management API from the command line: pages, broadcasts,
/// subscribers, export and erasure.
#[derive(Debug, Parser)]
#[command(name = "optcast", version, after_long_help = format!("{SETTINGS_HELP}\n\n{EXIT_CODES_HELP}"),
    after_help = EXIT_CODES_HELP)]
pub struct Cli {
    /// Base URL of the API [default: http://127.0.0.1:3000, the local stack].
    #[arg(long, global = true, env = "OPTCAST_ENDPOINT", value_name = "URL")]
    pub endpoint: Option<String>,
    /// Bearer token (prefer the environment or a profile: flags show in `ps`).
    #[arg(
        long,
        global = true,
        env = "OPTCAST_ADMIN_TOKEN",
        hide_env_values = true,
        value_name = "TOKEN"
    )]
    pub token: Option<String>,
    /// Profile of the profile file [default: default].
    #[arg(long, global = true, env = "OPTCAST_PROFILE", value_name = "NAME")]
    pub profile: Option<String>,
    /// The Page the command is about (a Meta Page id).
    #[arg(long, global = true, env = "OPTCAST_PAGE", value_name = "PAGE_ID")]
    pub page: Option<String>,
    /// Print the API's JSON answer instead of text (errors too, on stdout).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The Pages you may see; connect one or change its settings.
    #[command(subcommand)]
    Page(PageCmd),
    /// Create, preview, list, control and watch broadcasts.
    #[command(subcommand)]
    Broadcast(BroadcastCmd),
    /// A Page's leads: list, consent history, tags.
    #[command(subcommand, alias = "subscribers")]
    Subscriber(SubscriberCmd),
    /// Everything held on a lead, decrypted, as JSON (always JSON).
    Export {
        psid: String,
        /// Write the document to this file instead of stdout.
        #[arg(short, long, value_name = "FILE")]
        output: Option<std::path::PathBuf>,
    },
    /// Erase a lead (crypto-shredding; irreversible). Prints the request id.
    Erase {
        psid: String,
        /// Confirm: erasure cannot be undone.
        #[arg(long)]
        yes: bool,
        /// Wait until the erasure is no longer pending.
        #[arg(long)]
        wait: bool,
    },
    /// Progress of an erasure request.
    Erasure { request_id: String },
    /// The API's OpenAPI 3.1 document (always JSON).
    Openapi,
}

#[derive(Debug, Subcommand)]
pub enum PageCmd {
    /// The Pages your token may see: retention, region, protection, whether
    /// a token is set (never the token).
    List {
        /// Page size, 1-100.
        #[arg(long)]
        limit: Option<u32>,
        /// The `next` cursor of the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// One Page's settings (the page given, else --page).
    Show {
        #[arg(value_name = "PAGE_ID")]
        page_id: Option<String>,
    },
    /// Connect a Page, or change its settings (PUT /v1/pages/<page>): what
    /// you leave out keeps its stored value.
    #[command(alias = "put")]
    Connect {
        /// The Page access token (stored encrypted; never shown again).
        /// Needed to connect a Page the first time; later changes may leave it out.
        #[arg(long, env = "OPTCAST_PAGE_TOKEN", hide_env_values = true)]
        access_token: Option<String>,
        /// Days to keep the Page's data (1-3650).
        #[arg(long)]
        retention_days: Option<u32>,
        /// Business region (EU, UK, JP, ...): where Meta honours marketing messages.
        #[arg(long)]
        region: Option<String>,
        /// Page protection: pause above this (unsubscribed + blocked) / messages rate, e.g. 0.02.
        #[arg(long, requires = "min_sends")]
        max_negative_rate: Option<f64>,
        /// Page protection: judge only after this many messages.
        #[arg(long, requires = "max_negative_rate")]
        min_sends: Option<u64>,
    },
}

/// The body of create and preview.
#[derive(Debug, Clone, Args)]
pub struct NewBroadcastArgs {
    /// Message text (an Unsubscribe control is always added).
    #[arg(long, required_unless_present = "message_file", conflicts_with = "message_file")]
    pub text: Option<String>,
    /// The whole Send API message as JSON (text, quick_replies, buttons).
    #[arg(long, value_name = "FILE")]
    pub message_file: Option<std::path::PathBuf>,
    /// Quick reply `TITLE=PAYLOAD` (repeatable).
    #[arg(long = "quick-reply", value_name = "TITLE=PAYLOAD", value_parser = parse_pair)]
    pub quick_replies: Vec<(String, String)>,
    /// Audience: leads with any of these tags (repeatable; none: everyone subscribed).
    #[arg(long = "tag", value_name = "TAG")]
    pub tags: Vec<String>,
    /// When to send, RFC 3339 (e.g. 2027-06-01T09:00:00Z); absent: now.
    #[arg(long, value_name = "TIME")]
    pub send_at: Option<String>,
    /// A name for the list.
    #[arg(long)]
    pub name: Option<String>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum State {
    Scheduled,
    Planning,
    Sending,
    Paused,
    Done,
    Cancelled,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum Status {
    Subscribed,
    Unsubscribed,
    Unreachable,
    Erased,
}

#[derive(Debug, Subcommand)]
pub enum BroadcastCmd {
    /// Create a broadcast; prints its id on stdout.
    Create(NewBroadcastArgs),
    /// Dry run of create: audience, excluded and why, the message. Stores nothing.
    Preview {
        #[command(flatten)]
        broadcast: NewBroadcastArgs,
        /// Leads read in this call, 1-10000 (the default); a Page with more
        /// answers with a cursor for the next ones.
        #[arg(long)]
        limit: Option<u32>,
        /// The cursor the previous preview printed (`more: --cursor …`).
        #[arg(long)]
        cursor: Option<String>,
    },
    /// The Page's broadcasts, newest first.
    List {
        #[arg(long, value_enum)]
        state: Option<State>,
        /// Page size, 1-100.
        #[arg(long)]
        limit: Option<u32>,
        /// The `next` cursor of the previous page.
        #[arg(long)]
        cursor: Option<String>,
    },
    /// State, counts and outcomes of one broadcast.
    Show { id: String },
    /// Stop sending now; queued sends wait for resume.
    Pause { id: String },
    /// Go on sending a paused broadcast.
    Resume { id: String },
    /// Stop sending what is not yet sent.
    Cancel { id: String },
    /// Send the broadcast's message now to up to 10 named leads (not counted).
    Test {
        id: String,
        #[arg(required = true, num_args = 1..=10)]
        psids: Vec<String>,
    },
    /// Why was (or wasn't) this lead messaged?
    Why { id: String, psid: String },
    /// A live progress bar until the broadcast is done, cancelled or paused; then its counts.
    ///
    /// On a terminal the bar is drawn on stderr; otherwise (piped, in CI) a
    /// plain line on stderr each time the progress changes. Exit 0 when
    /// done, 9 when it ended paused or cancelled, 10 when --timeout ran out.
    Watch {
        id: String,
        /// Poll interval in milliseconds.
        #[arg(long, default_value_t = 1000, value_parser = clap::value_parser!(u64).range(100..=60_000))]
        interval_ms: u64,
        /// Give up after this long (90s, 5m, 1h30m) with exit code 10 if
        /// the broadcast has not ended; no limit when absent.
        #[arg(long, value_name = "DURATION", value_parser = parse_duration)]
        timeout: Option<std::time::Duration>,
    },
}

#[derive(Debug, Subcommand)]
pub enum SubscriberCmd {
    /// Leads by status and tag (ids, status, tags only), PSID order.
    List {
        #[arg(long, value_enum)]
        status: Option<Status>,
        #[arg(long)]
        tag: Option<String>,
        /// Page size, 1-100.
        #[arg(long)]
        limit: Option<u32>,
        #[arg(long)]
        cursor: Option<String>,
    },
    /// A lead's consent state, tags and consent history.
    Show { psid: String },
    /// Add, remove or bulk-apply a tag.
    #[command(subcommand)]
    Tag(TagCmd),
}

#[derive(Debug, Subcommand)]
pub enum TagCmd {
    /// Tag one lead.
    Add { psid: String, tag: String },
    /// Untag one lead.
    Remove { psid: String, tag: String },
    /// One tag on many leads (together 1-100 PSIDs).
    Bulk {
        tag: String,
        #[arg(long = "add", value_name = "PSID")]
        add: Vec<String>,
        #[arg(long = "remove", value_name = "PSID")]
        remove: Vec<String>,
    },
}

/// A duration as people type it (`90s`, `5m`, `1h30m`; humantime's syntax).
fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("{s:?} is not a duration such as 90s, 5m or 1h30m: {e}"))
}

fn parse_pair(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((t, p)) if !t.is_empty() && !p.is_empty() => Ok((t.to_string(), p.to_string())),
        _ => Err(format!("{s:?} is not TITLE=PAYLOAD")),
    }
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Scheduled => "scheduled",
            State::Planning => "planning",
            State::Sending => "sending",
            State::Paused => "paused",
            State::Done => "done",
            State::Cancelled => "cancelled",
        }
    }
}

impl Status {
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Subscribed => "subscribed",
            Status::Unsubscribed => "unsubscribed",
            Status::Unreachable => "unreachable",
            Status::Erased => "erased",
        }
    }
}

#[cfg(test)]
#[path = "args_tests.rs"]
mod tests;
