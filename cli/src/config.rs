//! Where the CLI finds the management API, its token and a default page.
//!
//! Precedence, first found wins, per setting: the flag (`--endpoint`,
//! `--token`, `--page`), then the environment (`OPTCAST_ENDPOINT`,
//! `OPTCAST_ADMIN_TOKEN`, `OPTCAST_PAGE`; clap merges these two), then the
//! profile in the profile file, then the default (`http://127.0.0.1:3000`,
//! the local stack; no token; no page).
//!
//! The profile file is `$OPTCAST_CONFIG`, else
//! `$XDG_CONFIG_HOME/optcast/config.toml`, else
//! `$HOME/.config/optcast/config.toml`; one table per profile:
//!
//! ```toml
//! [default]
//! endpoint = "http://127.0.0.1:3000"
//! token = "..."
//! page = "1000000000000001"
//!
//! [prod]
//! endpoint = "https://api.example.com"
//! ```
//!
//! The profile is `--profile`, else `OPTCAST_PROFILE`, else `default`. A
//! profile named on purpose must exist; the `default` one may be missing.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::CliError;

/// The endpoint when nothing names one: the local stack of `make dev`.
pub const DEFAULT_ENDPOINT: &str = "http://127.0.0.1:3000";

/// One profile's settings, as the file holds them.
#[derive(Debug, Default, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Profile {
    pub endpoint: Option<String>,
    pub token: Option<String>,
    pub page: Option<String>,
}

/// What the flags and the environment gave (clap has merged the two).
#[derive(Debug, Default, Clone)]
pub struct Given {
    pub endpoint: Option<String>,
    pub token: Option<String>,
    pub page: Option<String>,
    pub profile: Option<String>,
}

/// The settings in force.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// Base URL without a trailing slash, e.g. `http://127.0.0.1:3000`.
    pub endpoint: String,
    pub token: Option<String>,
    pub page: Option<String>,
}

/// The profile file's path from the environment (see the module docs);
/// `None` when neither `OPTCAST_CONFIG`, `XDG_CONFIG_HOME` nor `HOME` is set.
pub fn profile_path(env: &dyn Fn(&str) -> Option<String>) -> Option<PathBuf> {
    let set = |k: &str| env(k).filter(|v| !v.is_empty());
    if let Some(p) = set("OPTCAST_CONFIG") {
        return Some(PathBuf::from(p));
    }
    if let Some(x) = set("XDG_CONFIG_HOME") {
        return Some(Path::new(&x).join("optcast/config.toml"));
    }
    set("HOME").map(|h| Path::new(&h).join(".config/optcast/config.toml"))
}

/// Resolves the settings: `given` (flags, then environment), then the
/// profile read from `file` (its path and text; `None` when there is no
/// file), then the defaults.
///
/// # Errors
/// [`CliError::Usage`] when the file is not valid TOML of profiles, or a
/// profile named by `--profile`/`OPTCAST_PROFILE` is not in it.
pub fn resolve(given: &Given, file: Option<(&Path, &str)>) -> Result<Settings, CliError> {
    let name = given.profile.as_deref().unwrap_or("default");
    let named = given.profile.is_some();
    let profile = match file {
        Some((path, text)) => {
            let mut profiles: std::collections::BTreeMap<String, Profile> =
                toml::from_str(text).map_err(|e| CliError::Usage(format!("profile file {}: {e}", path.display())))?;
            match profiles.remove(name) {
                Some(p) => p,
                None if named => return Err(CliError::Usage(format!("no profile [{name}] in {}", path.display()))),
                None => Profile::default(),
            }
        }
        None if named => {
            return Err(CliError::Usage(format!(
                "profile {name} named, but there is no profile file (OPTCAST_CONFIG, ~/.config/optcast/config.toml)"
            )))
        }
        None => Profile::default(),
    };
    let pick = |flag: &Option<String>, file: Option<String>| flag.clone().filter(|v| !v.is_empty()).or(file);
    let endpoint = pick(&given.endpoint, profile.endpoint).unwrap_or_else(|| DEFAULT_ENDPOINT.into());
    Ok(Settings {
        endpoint: endpoint.trim_end_matches('/').to_string(),
        token: pick(&given.token, profile.token),
        page: pick(&given.page, profile.page),
    })
}

/// Reads the profile file named by the environment and resolves.
///
/// # Errors
/// As [`resolve`]; a file that exists but cannot be read is a usage error.
pub fn load(given: &Given) -> Result<Settings, CliError> {
    let env = |k: &str| std::env::var(k).ok();
    let path = profile_path(&env);
    let text = match &path {
        Some(p) => match std::fs::read_to_string(p) {
            Ok(t) => Some(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(CliError::Usage(format!("profile file {}: {e}", p.display()))),
        },
        None => None,
    };
    match (&path, &text) {
        (Some(p), Some(t)) => resolve(given, Some((p.as_path(), t.as_str()))),
        _ => resolve(given, None),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = r#"
[default]
endpoint = "http://file-default:3000/"
token = "file-token"
page = "1000000000000001"

[prod]
endpoint = "https://api.example.com"
"#;

    fn file() -> Option<(&'static Path, &'static str)> {
        Some((Path::new("/x/config.toml"), FILE))
    }

    #[test]
    fn nothing_configured_means_the_local_stack_and_no_token() {
        let s = resolve(&Given::default(), None).unwrap();
        assert_eq!(s.endpoint, DEFAULT_ENDPOINT);
        assert_eq!(s.token, None);
        assert_eq!(s.page, None);
    }

    #[test]
    fn the_default_profile_fills_what_flags_and_env_leave_open() {
        let s = resolve(&Given::default(), file()).unwrap();
        assert_eq!(s.endpoint, "http://file-default:3000");
        assert_eq!(s.token.as_deref(), Some("file-token"));
        assert_eq!(s.page.as_deref(), Some("1000000000000001"));
    }

    #[test]
    fn a_flag_or_env_value_wins_over_the_profile() {
        let given = Given {
            token: Some("flag-token".into()),
            ..Given::default()
        };
        let s = resolve(&given, file()).unwrap();
        assert_eq!(s.token.as_deref(), Some("flag-token"));
        assert_eq!(s.endpoint, "http://file-default:3000");
    }

    #[test]
    fn a_named_profile_is_used_and_unset_fields_stay_unset() {
        let given = Given {
            profile: Some("prod".into()),
            ..Given::default()
        };
        let s = resolve(&given, file()).unwrap();
        assert_eq!(s.endpoint, "https://api.example.com");
        assert_eq!(s.token, None, "the default profile's token is not inherited");
    }

    #[test]
    fn a_named_profile_that_does_not_exist_is_a_usage_error() {
        let given = Given {
            profile: Some("staging".into()),
            ..Given::default()
        };
        assert!(matches!(resolve(&given, file()), Err(CliError::Usage(m)) if m.contains("[staging]")));
        assert!(matches!(resolve(&given, None), Err(CliError::Usage(_))));
    }

    #[test]
    fn an_unknown_key_in_the_profile_file_is_reported() {
        let bad = Some((Path::new("/x/c.toml"), "[default]\nendpont = \"x\"\n"));
        assert!(matches!(resolve(&Given::default(), bad), Err(CliError::Usage(m)) if m.contains("endpont")));
    }

    #[test]
    fn the_profile_path_follows_optcast_config_then_xdg_then_home() {
        let env = |vars: &'static [(&'static str, &'static str)]| {
            move |k: &str| vars.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string())
        };
        assert_eq!(
            profile_path(&env(&[("OPTCAST_CONFIG", "/c.toml"), ("HOME", "/h")])),
            Some(PathBuf::from("/c.toml"))
        );
        assert_eq!(
            profile_path(&env(&[("XDG_CONFIG_HOME", "/x"), ("HOME", "/h")])),
            Some(PathBuf::from("/x/optcast/config.toml"))
        );
        assert_eq!(
            profile_path(&env(&[("HOME", "/h")])),
            Some(PathBuf::from("/h/.config/optcast/config.toml"))
        );
        assert_eq!(profile_path(&env(&[])), None);
    }
}
