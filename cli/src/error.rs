//! What can go wrong, in words, and the exit code each failure gives a
//! script (the table in `--help` and the README; one place maps them).

use std::fmt;

/// Exit codes a script can branch on. Stable: changing one is a breaking
/// change of the CLI.
pub mod code {
    /// Success.
    pub const OK: u8 = 0;
    /// Anything else (e.g. the output file could not be written).
    pub const OTHER: u8 = 1;
    /// Bad usage or configuration: unknown flag, missing argument, a
    /// profile named but not found (clap uses 2 for its own usage errors).
    pub const USAGE: u8 = 2;
    /// Not authorised: no token configured, or the API answered 401 or 403.
    pub const AUTH: u8 = 3;
    /// Not found: 404 (including another page's resources, which the API
    /// hides as 404).
    pub const NOT_FOUND: u8 = 4;
    /// Conflict with the resource's state: 409 (`not_pausable`, …).
    pub const CONFLICT: u8 = 5;
    /// Input rejected: 400, 422 and any other 4xx not listed here.
    pub const REJECTED: u8 = 6;
    /// Rate limited: 429; try again later.
    pub const RATE_LIMITED: u8 = 7;
    /// Server or network: 5xx, no connection, a timeout, an answer that is
    /// not the API's JSON; usually worth retrying.
    pub const SERVER: u8 = 8;
    /// `broadcast watch` ended with the broadcast paused or cancelled
    /// instead of done.
    pub const NOT_DONE: u8 = 9;
    /// `broadcast watch --timeout`: the time ran out before the broadcast
    /// ended (it goes on; watch again or look with `broadcast show`).
    pub const TIMED_OUT: u8 = 10;
}

/// The exit-code table as `--help` shows it.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  ok
  1  other error (e.g. the output file could not be written)
  2  usage or configuration error
  3  not authorised: no token, or the API answered 401/403
  4  not found (404)
  5  conflict with the resource's state (409)
  6  input rejected (400, 422, other 4xx)
  7  rate limited (429)
  8  server or network error (5xx, no connection, not the API's answer)
  9  `broadcast watch`: the broadcast ended paused or cancelled, not done
  10 `broadcast watch --timeout`: the time ran out before the broadcast ended";

/// A failed command.
#[derive(Debug, Clone, PartialEq)]
pub enum CliError {
    /// The API answered with an error: its status and its
    /// `{"error":{"code","message"}}` body.
    Api { status: u16, code: String, message: String },
    /// No answer from the API (connection refused, timeout, TLS), or one
    /// that is not the API's JSON.
    Network(String),
    /// An error status without the API's `{"error":…}` body: API Gateway's
    /// own answers (its JWT authorizer's 401/403, its throttling's 429,
    /// `{"message":…}`), or an endpoint that is not the optcast API at all.
    /// Its exit code is the status's for 401, 403 and 429, which a gateway
    /// in front of the API gives; any other is [`code::SERVER`]: a 404 from
    /// elsewhere says nothing about the resource asked for.
    NotTheApi { status: u16, message: Option<String> },
    /// Bad usage or configuration, found after parsing.
    Usage(String),
    /// No bearer token from flag, environment or profile.
    NoToken,
    /// A watched broadcast ended in this state instead of `done`.
    NotDone(String),
    /// `watch --timeout` ran out with the broadcast in this state.
    TimedOut { state: String, after: std::time::Duration },
    /// Local failure (writing a file).
    Other(String),
}

impl CliError {
    /// The process exit code for this failure (see [`code`]).
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Api { status, .. } => exit_code_for_status(*status),
            CliError::NotTheApi {
                status: status @ (401 | 403 | 429),
                ..
            } => exit_code_for_status(*status),
            CliError::Network(_) | CliError::NotTheApi { .. } => code::SERVER,
            CliError::Usage(_) => code::USAGE,
            CliError::NoToken => code::AUTH,
            CliError::NotDone(_) => code::NOT_DONE,
            CliError::TimedOut { .. } => code::TIMED_OUT,
            CliError::Other(_) => code::OTHER,
        }
    }

    /// The error's machine code: the API's own, or the CLI's for failures
    /// that never reached it (`network`, `usage`, `no_token`, `not_done`,
    /// `other`).
    pub fn code(&self) -> std::borrow::Cow<'_, str> {
        let fixed = match self {
            CliError::Api { code, .. } => code,
            CliError::NotTheApi { status, .. } => return format!("http_{status}").into(),
            CliError::Network(_) => "network",
            CliError::Usage(_) => "usage",
            CliError::NoToken => "no_token",
            CliError::NotDone(_) => "not_done",
            CliError::TimedOut { .. } => "timed_out",
            CliError::Other(_) => "other",
        };
        fixed.into()
    }

    /// The `{"error":{"code","message"}}` form `--json` prints, with the
    /// HTTP status when the API answered.
    pub fn to_json(&self) -> serde_json::Value {
        let mut error = serde_json::json!({"code": self.code(), "message": self.message()});
        if let CliError::Api { status, .. } | CliError::NotTheApi { status, .. } = self {
            error["status"] = (*status).into();
        }
        serde_json::json!({ "error": error })
    }

    fn message(&self) -> String {
        match self {
            CliError::Api { message, .. } => message.clone(),
            CliError::Network(m) | CliError::Usage(m) | CliError::Other(m) => m.clone(),
            CliError::NotTheApi {
                status,
                message: Some(m),
            } => format!("HTTP {status} from the endpoint's gateway: {m}"),
            CliError::NotTheApi { status, message: None } => {
                format!("HTTP {status} without an API error body (is the endpoint the optcast API?)")
            }
            CliError::NoToken => {
                "no API token: pass --token, set OPTCAST_ADMIN_TOKEN, or put `token` in the profile".into()
            }
            CliError::NotDone(state) => format!("the broadcast ended {state}, not done"),
            CliError::TimedOut { state, after } => format!(
                "gave up watching after {}: the broadcast is still {state}",
                humantime::format_duration(*after)
            ),
        }
    }
}

/// The exit code of an HTTP error status.
pub fn exit_code_for_status(status: u16) -> u8 {
    match status {
        401 | 403 => code::AUTH,
        404 => code::NOT_FOUND,
        409 => code::CONFLICT,
        429 => code::RATE_LIMITED,
        400..=499 => code::REJECTED,
        _ => code::SERVER,
    }
}

impl fmt::Display for CliError {
    /// `<message> (<code>)`: the words first, the code for searching.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message(), self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn api(status: u16) -> CliError {
        CliError::Api {
            status,
            code: "x".into(),
            message: "m".into(),
        }
    }

    #[test]
    fn each_http_error_class_has_its_own_exit_code() {
        assert_eq!(api(401).exit_code(), 3);
        assert_eq!(api(403).exit_code(), 3);
        assert_eq!(api(404).exit_code(), 4);
        assert_eq!(api(409).exit_code(), 5);
        assert_eq!(api(400).exit_code(), 6);
        assert_eq!(api(422).exit_code(), 6);
        assert_eq!(api(405).exit_code(), 6);
        assert_eq!(api(429).exit_code(), 7);
        assert_eq!(api(500).exit_code(), 8);
        assert_eq!(api(503).exit_code(), 8);
    }

    #[test]
    fn an_error_status_that_is_not_the_apis_is_a_server_error_but_a_gateways_refusal_or_throttling() {
        for (status, exit) in [
            (404, code::SERVER),
            (400, code::SERVER),
            (502, code::SERVER),
            (401, code::AUTH),
            (403, code::AUTH),
            (429, code::RATE_LIMITED),
        ] {
            let e = CliError::NotTheApi { status, message: None };
            assert_eq!(e.exit_code(), exit, "{status}");
            assert_eq!(e.code(), format!("http_{status}"));
            assert_eq!(e.to_json()["error"]["status"], status);
        }
    }

    #[test]
    fn failures_that_never_reach_the_api_have_exit_codes_too() {
        assert_eq!(CliError::Network("refused".into()).exit_code(), 8);
        assert_eq!(CliError::Usage("x".into()).exit_code(), 2);
        assert_eq!(CliError::NoToken.exit_code(), 3);
        assert_eq!(CliError::NotDone("paused".into()).exit_code(), 9);
    }

    #[test]
    fn a_watch_that_ran_out_of_time_has_its_own_exit_code_and_says_the_state() {
        let e = CliError::TimedOut {
            state: "sending".into(),
            after: std::time::Duration::from_secs(90),
        };
        assert_eq!(e.exit_code(), code::TIMED_OUT);
        assert_eq!(code::TIMED_OUT, 10);
        assert_eq!(
            e.to_string(),
            "gave up watching after 1m 30s: the broadcast is still sending (timed_out)"
        );
    }

    #[test]
    fn an_api_error_reads_as_words_then_its_code() {
        let e = CliError::Api {
            status: 409,
            code: "not_pausable".into(),
            message: "only a planning or sending broadcast can be paused".into(),
        };
        assert_eq!(
            e.to_string(),
            "only a planning or sending broadcast can be paused (not_pausable)"
        );
        assert_eq!(
            e.to_json(),
            serde_json::json!({"error": {"code": "not_pausable", "status": 409,
                "message": "only a planning or sending broadcast can be paused"}})
        );
    }

    #[test]
    fn the_help_table_lists_every_code() {
        for c in 0..=10 {
            assert!(EXIT_CODES_HELP.contains(&format!("\n  {c:<2} ")), "{c}");
        }
    }
}
