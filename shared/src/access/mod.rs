//! Who may call the management API, and for which pages. Every caller is a
//! [`Caller`]: a name (for the audit trail), the pages it may touch and the
//! scopes it holds. In AWS both come from the JWT that API Gateway's
//! authorizer validated (`scope` claim, and a pages claim); locally from a
//! token table (`OPTCAST_API_TOKENS` JSON, or a file named by
//! `OPTCAST_API_TOKENS_FILE`) that stores only SHA-256 digests of tokens.
//! A page the caller lacks is answered 404 (its existence is not revealed),
//! a missing scope 403.

use std::collections::{BTreeSet, HashMap};
use std::fmt;

use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::ids::PageId;

/// What a caller may do. The names are the OAuth scopes a JWT carries and
/// `template.yaml` requires per route.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Scope {
    /// Connect a page (its access token, retention, region).
    PagesWrite,
    /// Create, cancel, pause, resume and test-send; replay (the quarantine's
    /// records are a page's).
    BroadcastsWrite,
    /// Read broadcasts and their counts, and the pages' settings (never a
    /// token) that broadcasting from them needs.
    BroadcastsRead,
    /// Read a lead's consent state and history, list a page's leads; list
    /// the quarantine.
    SubscribersRead,
    /// Tag and untag leads (audience management).
    SubscribersWrite,
    /// Export everything held on a lead (decrypted).
    DataExport,
    /// Erase a lead and read erasure status.
    DataErase,
}

impl Scope {
    pub const ALL: [Scope; 7] = [
        Scope::PagesWrite,
        Scope::BroadcastsWrite,
        Scope::BroadcastsRead,
        Scope::SubscribersRead,
        Scope::SubscribersWrite,
        Scope::DataExport,
        Scope::DataErase,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::PagesWrite => "pages:write",
            Scope::BroadcastsWrite => "broadcasts:write",
            Scope::BroadcastsRead => "broadcasts:read",
            Scope::SubscribersRead => "subscribers:read",
            Scope::SubscribersWrite => "subscribers:write",
            Scope::DataExport => "data:export",
            Scope::DataErase => "data:erase",
        }
    }

    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == raw)
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The pages a caller may touch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pages {
    /// Every page (`"*"`): operators, and the single local admin token.
    All,
    Only(BTreeSet<PageId>),
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum AccessError {
    /// No credential, or one that matches nothing: 401.
    #[error("missing or invalid bearer token")]
    Unauthenticated,
    /// Authenticated, but the route needs a scope the caller lacks: 403.
    #[error("this call needs the {0} scope")]
    MissingScope(Scope),
    /// The caller may not touch this page; answered as if it did not exist: 404.
    #[error("no such page")]
    PageNotVisible,
    /// The token table or the JWT's claims cannot be read.
    #[error("access configuration: {0}")]
    Config(String),
}

/// An authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    /// The token's name, or the JWT's `sub`: who acted, for the audit trail.
    pub name: String,
    pub pages: Pages,
    pub scopes: BTreeSet<Scope>,
}

impl Caller {
    /// Every page and every scope (the local `OPTCAST_ADMIN_TOKEN`).
    pub fn admin(name: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            pages: Pages::All,
            scopes: Scope::ALL.into_iter().collect(),
        }
    }

    /// # Errors
    /// [`AccessError::MissingScope`] when the caller lacks `scope`.
    pub fn require(&self, scope: Scope) -> Result<(), AccessError> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(AccessError::MissingScope(scope))
        }
    }

    pub fn sees(&self, page: &PageId) -> bool {
        match &self.pages {
            Pages::All => true,
            Pages::Only(pages) => pages.contains(page),
        }
    }

    /// # Errors
    /// [`AccessError::PageNotVisible`] when the caller may not touch `page`.
    pub fn require_page(&self, page: &PageId) -> Result<(), AccessError> {
        if self.sees(page) {
            Ok(())
        } else {
            Err(AccessError::PageNotVisible)
        }
    }

    /// Records that name no page (Meta's deletion callback spans pages) are
    /// visible only to callers of every page.
    ///
    /// # Errors
    /// [`AccessError::PageNotVisible`].
    pub fn require_optional_page(&self, page: Option<&PageId>) -> Result<(), AccessError> {
        match page {
            Some(p) => self.require_page(p),
            None if self.pages == Pages::All => Ok(()),
            None => Err(AccessError::PageNotVisible),
        }
    }
}

/// Pages given as `"*"`, or as ids separated by spaces or commas (API
/// Gateway passes a JWT array claim as `"[a b]"`).
fn parse_pages(raw: &str) -> Result<Pages, AccessError> {
    let raw = raw.trim().trim_start_matches('[').trim_end_matches(']');
    if raw.trim() == "*" {
        return Ok(Pages::All);
    }
    raw.split(|c: char| c == ',' || c.is_whitespace())
        .filter(|p| !p.is_empty())
        .map(|p| PageId::parse(p.trim_matches('"')).map_err(|e| AccessError::Config(e.to_string())))
        .collect::<Result<BTreeSet<_>, _>>()
        .map(Pages::Only)
}

/// The caller a validated JWT describes. Scopes come from API Gateway's
/// `scopes` when it passes them, else the `scope` (or `scp`) claim, space
/// separated; unknown scopes are ignored. Pages come from `pages_claim`.
/// A token without the pages claim may touch no page.
///
/// # Errors
/// [`AccessError::Unauthenticated`] when the token has no `sub` (no one to
/// name in the audit trail); [`AccessError::Config`] when the pages claim
/// holds something that is not a page id.
pub fn from_jwt(
    claims: &HashMap<String, String>,
    scopes: Option<&[String]>,
    pages_claim: &str,
) -> Result<Caller, AccessError> {
    let scopes: BTreeSet<Scope> = match scopes {
        Some(s) if !s.is_empty() => s.iter().filter_map(|s| Scope::parse(s)).collect(),
        _ => claims
            .get("scope")
            .or_else(|| claims.get("scp"))
            .map(|s| {
                s.trim_matches(|c| c == '[' || c == ']')
                    .split_whitespace()
                    .filter_map(Scope::parse)
                    .collect()
            })
            .unwrap_or_default(),
    };
    let pages = match claims.get(pages_claim) {
        Some(raw) => parse_pages(raw)?,
        None => Pages::Only(BTreeSet::new()),
    };
    // Without a subject nobody could be named in the audit trail.
    let name = claims
        .get("sub")
        .filter(|s| !s.is_empty())
        .cloned()
        .ok_or(AccessError::Unauthenticated)?;
    Ok(Caller { name, pages, scopes })
}

/// Local API tokens: `{"tokens":[{"name","token_sha256","pages","scopes"}]}`
/// where `pages` is `"*"` or a list of page ids and `token_sha256` the hex
/// SHA-256 of the bearer token (the token itself is never stored).
#[derive(Debug, Clone, Default)]
pub struct TokenTable {
    entries: Vec<(Vec<u8>, Caller)>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenFile {
    tokens: Vec<TokenEntry>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TokenEntry {
    name: String,
    token_sha256: String,
    pages: PagesEntry,
    scopes: Vec<String>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum PagesEntry {
    Star(String),
    List(Vec<String>),
}

impl TokenTable {
    /// # Errors
    /// [`AccessError::Config`] when the JSON is not a token table, a digest is
    /// not 64 hex digits, a page is not a page id or a scope is unknown.
    pub fn parse(json: &str) -> Result<Self, AccessError> {
        let file: TokenFile = serde_json::from_str(json).map_err(|e| AccessError::Config(e.to_string()))?;
        let mut entries = Vec::with_capacity(file.tokens.len());
        for t in file.tokens {
            let digest = hex::decode(&t.token_sha256)
                .ok()
                .filter(|d| d.len() == 32)
                .ok_or_else(|| AccessError::Config(format!("token {}: token_sha256 is not 64 hex digits", t.name)))?;
            let pages = match t.pages {
                PagesEntry::Star(s) if s == "*" => Pages::All,
                PagesEntry::Star(s) => parse_pages(&s)?,
                PagesEntry::List(list) => Pages::Only(
                    list.iter()
                        .map(|p| PageId::parse(p.as_str()).map_err(|e| AccessError::Config(e.to_string())))
                        .collect::<Result<_, _>>()?,
                ),
            };
            let scopes = t
                .scopes
                .iter()
                .map(|s| {
                    Scope::parse(s).ok_or_else(|| AccessError::Config(format!("token {}: unknown scope {s:?}", t.name)))
                })
                .collect::<Result<_, _>>()?;
            entries.push((
                digest,
                Caller {
                    name: t.name,
                    pages,
                    scopes,
                },
            ));
        }
        Ok(Self { entries })
    }

    /// Adds `token` with every page and scope, named `name`.
    pub fn with_admin(mut self, name: &str, token: &str) -> Self {
        self.entries
            .push((Sha256::digest(token.as_bytes()).to_vec(), Caller::admin(name)));
        self
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The caller whose token this is. Every entry is compared in constant
    /// time, so timing reveals neither which entry matched nor how much.
    pub fn authenticate(&self, token: &str) -> Option<Caller> {
        let digest = Sha256::digest(token.as_bytes());
        let mut found = None;
        for (d, caller) in &self.entries {
            if crate::handshake::constant_time_eq(d, &digest) && found.is_none() {
                found = Some(caller.clone());
            }
        }
        found
    }
}

#[cfg(test)]
mod tests;
