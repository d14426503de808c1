//! What a developer sets for `optcast-local` (`make dev`): the variables
//! the README's "Configuration" table documents, each either handed to
//! every function or taken another way, and none dropped without a word.

use crate::functions::Overrides;

/// Taken from `optcast-local`'s environment and handed to every function
/// (over what `template.yaml` sets): the secrets and endpoints that in AWS
/// come from Secrets Manager or deployment parameters, and the settings the
/// README says are set locally.
pub const PASSED_THROUGH: &[&str] = &[
    "META_APP_SECRET",
    "META_VERIFY_TOKEN",
    "META_APP_ID",
    "GRAPH_API_URL",
    "OPTCAST_ADMIN_TOKEN",
    "OPTCAST_API_TOKENS",
    "OPTCAST_API_TOKENS_FILE",
    "INGEST_WORK_BUDGET_MS",
];

/// Documented variables the local stack takes another way, and how.
pub const TAKEN_OTHERWISE: &[(&str, &str)] = &[
    ("AWS_REGION", "the AWS SDK reads it, for the stack and its functions"),
    ("AWS_ENDPOINT_URL", "the AWS SDK reads it: the emulator"),
    (
        "OPTCAST_PSEUDONYM_KEYS",
        "installed once for every function from the stack's environment",
    ),
    ("CONSOLE_OIDC_CLIENT_ID", CONSOLE_SIGN_IN),
    ("CONSOLE_OIDC_ISSUER", CONSOLE_SIGN_IN),
    ("CONSOLE_OIDC_SCOPES", CONSOLE_SIGN_IN),
    ("CONSOLE_OIDC_CONNECT_ORIGINS", CONSOLE_SIGN_IN),
];

const CONSOLE_SIGN_IN: &str = "ignored: the local console signs in with the admin token, or through \
     a fake OpenID provider with OPTCAST_SIGN_IN=oidc, which sets the console's sign-in itself";

/// The functions' overrides: each of [`PASSED_THROUGH`] that `env` sets.
pub fn overrides_from(env: impl Fn(&str) -> Option<String>) -> Overrides {
    PASSED_THROUGH
        .iter()
        .filter_map(|name| env(name).map(|v| (name.to_string(), v)))
        .collect()
}

/// Bearer-token settings the API does not read behind a JWT authorizer
/// (`OPTCAST_SIGN_IN=oidc`: it takes the JWT's claims, as in AWS).
const BEARER_TOKENS: &[&str] = &["OPTCAST_ADMIN_TOKEN", "OPTCAST_API_TOKENS", "OPTCAST_API_TOKENS_FILE"];

/// A line for each variable `env` sets that the local stack does not use
/// as set ([`TAKEN_OTHERWISE`] saying "ignored", and with `oidc` sign-in
/// the bearer tokens), to print at start.
pub fn ignored_settings(env: impl Fn(&str) -> Option<String>, oidc: bool) -> Vec<String> {
    let mut lines: Vec<String> = TAKEN_OTHERWISE
        .iter()
        .filter(|(name, how)| how.starts_with("ignored") && env(name).is_some())
        .map(|(name, how)| format!("{name} is set but {how}"))
        .collect();
    if oidc {
        lines.extend(BEARER_TOKENS.iter().filter(|name| env(name).is_some()).map(|name| {
            format!("{name} is set but ignored: with OPTCAST_SIGN_IN=oidc the API reads the JWT's claims, as in AWS")
        }));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_settings_the_readme_says_are_set_locally_reach_the_functions() {
        let env = |name: &str| {
            matches!(name, "OPTCAST_API_TOKENS" | "INGEST_WORK_BUDGET_MS" | "PATH").then(|| format!("{name}-value"))
        };
        let overrides = overrides_from(env);
        assert_eq!(
            overrides.keys().map(String::as_str).collect::<Vec<_>>(),
            ["INGEST_WORK_BUDGET_MS", "OPTCAST_API_TOKENS"]
        );
        assert_eq!(overrides["OPTCAST_API_TOKENS"], "OPTCAST_API_TOKENS-value");
    }

    #[test]
    fn a_console_sign_in_setting_is_reported_as_ignored() {
        let env = |name: &str| (name == "CONSOLE_OIDC_ISSUER").then(|| "https://idp.example.com".to_string());
        let lines = ignored_settings(env, false);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("CONSOLE_OIDC_ISSUER is set but ignored"),
            "{lines:?}"
        );
        assert!(ignored_settings(|_| None, false).is_empty());
    }

    #[test]
    fn behind_the_jwt_authorizer_a_bearer_token_setting_is_reported_as_ignored() {
        let env = |name: &str| (name == "OPTCAST_API_TOKENS").then(|| "{}".to_string());
        assert!(ignored_settings(env, false).is_empty());
        let lines = ignored_settings(env, true);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with("OPTCAST_API_TOKENS is set but ignored"),
            "{lines:?}"
        );
    }

    /// Every variable the README's configuration table names is either
    /// handed to the functions or taken another way: a documented setting
    /// the local stack silently dropped (`OPTCAST_API_TOKENS` was) fails
    /// here.
    #[test]
    fn every_variable_of_the_readmes_configuration_table_is_accounted_for() {
        let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
        let table = readme
            .split("## Configuration")
            .nth(1)
            .and_then(|s| s.split("\n\n").find(|block| block.trim_start().starts_with('|')))
            .expect("the README's configuration table");
        let mut named = Vec::new();
        for row in table.lines().filter(|l| l.starts_with("| `")) {
            let first = row.split('|').nth(1).unwrap_or_default();
            named.extend(first.split('`').skip(1).step_by(2).map(str::to_string));
        }
        assert!(named.len() >= 10, "the table's variables: {named:?}");
        for name in &named {
            let known = PASSED_THROUGH.contains(&name.as_str()) || TAKEN_OTHERWISE.iter().any(|(n, _)| n == name);
            assert!(
                known,
                "{name} is documented but optcast-local neither passes it nor says why not"
            );
        }
    }
}
