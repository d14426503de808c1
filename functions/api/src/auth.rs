//! Who is calling: bearer tokens locally, API Gateway's JWT in AWS, each
//! giving a [`Caller`] with pages and scopes; the scope every route needs.

use lambda_http::{Request, RequestExt};
use optcast_shared::access::{self, AccessError, Caller, Scope, TokenTable};
use optcast_shared::config::{ConfigError, Source};

use crate::{Api, ApiError};

impl From<AccessError> for ApiError {
    fn from(e: AccessError) -> Self {
        match e {
            AccessError::MissingScope(s) => ApiError::Forbidden(s),
            AccessError::PageNotVisible => ApiError::NotFound("page"),
            AccessError::Unauthenticated | AccessError::Config(_) => ApiError::Unauthorized,
        }
    }
}

/// What a route does: the router dispatches on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    PutPage,
    ListPages,
    GetPage,
    CreateBroadcast,
    PreviewBroadcast,
    ListBroadcasts,
    GetBroadcast,
    GetRecipient,
    CancelBroadcast,
    PauseBroadcast,
    ResumeBroadcast,
    TestSend,
    GetSubscriber,
    ListSubscribers,
    PutTag,
    DeleteTag,
    BulkTag,
    Erase,
    ErasureStatus,
    Export,
    ListQuarantine,
    ReplayQuarantine,
    OpenApi,
}

/// One management route: method, path template (`{name}` is one path
/// segment), the scope it needs (`None`: any authenticated caller) and what
/// it does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    pub method: &'static str,
    pub path: &'static str,
    pub scope: Option<Scope>,
    pub op: Op,
}

const fn route(method: &'static str, path: &'static str, scope: Scope, op: Op) -> Route {
    Route {
        method,
        path,
        scope: Some(scope),
        op,
    }
}

/// Every route, the one table the router serves from. `template.yaml`
/// requires the same scopes per route in API Gateway (a template test
/// compares the two) and `openapi.json` documents exactly these (a test
/// compares those too).
pub const ROUTES: &[Route] = &[
    route("PUT", "/v1/pages/{page_id}", Scope::PagesWrite, Op::PutPage),
    // A page's settings are read by whoever broadcasts from it (the console
    // and the CLI pick a page to compose for); nothing secret is shown.
    route("GET", "/v1/pages", Scope::BroadcastsRead, Op::ListPages),
    route("GET", "/v1/pages/{page_id}", Scope::BroadcastsRead, Op::GetPage),
    route("POST", "/v1/broadcasts", Scope::BroadcastsWrite, Op::CreateBroadcast),
    route("GET", "/v1/broadcasts", Scope::BroadcastsRead, Op::ListBroadcasts),
    route("GET", "/v1/broadcasts/{id}", Scope::BroadcastsRead, Op::GetBroadcast),
    route(
        "POST",
        "/v1/broadcasts/{id}/cancel",
        Scope::BroadcastsWrite,
        Op::CancelBroadcast,
    ),
    route(
        "POST",
        "/v1/broadcasts/{id}/pause",
        Scope::BroadcastsWrite,
        Op::PauseBroadcast,
    ),
    route(
        "POST",
        "/v1/broadcasts/{id}/resume",
        Scope::BroadcastsWrite,
        Op::ResumeBroadcast,
    ),
    route("POST", "/v1/broadcasts/{id}/test", Scope::BroadcastsWrite, Op::TestSend),
    // A dry run of create: the same scope (it is a step of writing one, and
    // it reads every lead of the page, which only a writer should spend).
    route(
        "POST",
        "/v1/broadcasts/preview",
        Scope::BroadcastsWrite,
        Op::PreviewBroadcast,
    ),
    route(
        "GET",
        "/v1/broadcasts/{id}/recipients/{psid}",
        Scope::BroadcastsRead,
        Op::GetRecipient,
    ),
    route(
        "GET",
        "/v1/pages/{page_id}/subscribers",
        Scope::SubscribersRead,
        Op::ListSubscribers,
    ),
    route(
        "GET",
        "/v1/pages/{page_id}/subscribers/{psid}",
        Scope::SubscribersRead,
        Op::GetSubscriber,
    ),
    route(
        "PUT",
        "/v1/pages/{page_id}/subscribers/{psid}/tags/{tag}",
        Scope::SubscribersWrite,
        Op::PutTag,
    ),
    route(
        "DELETE",
        "/v1/pages/{page_id}/subscribers/{psid}/tags/{tag}",
        Scope::SubscribersWrite,
        Op::DeleteTag,
    ),
    route(
        "POST",
        "/v1/pages/{page_id}/tags/{tag}",
        Scope::SubscribersWrite,
        Op::BulkTag,
    ),
    route("POST", "/v1/erasure", Scope::DataErase, Op::Erase),
    route("GET", "/v1/erasure/{id}", Scope::DataErase, Op::ErasureStatus),
    route("GET", "/v1/export", Scope::DataExport, Op::Export),
    route("GET", "/v1/quarantine", Scope::SubscribersRead, Op::ListQuarantine),
    route(
        "POST",
        "/v1/quarantine/{id}/replay",
        Scope::BroadcastsWrite,
        Op::ReplayQuarantine,
    ),
    // The API's own description: any authenticated caller.
    Route {
        method: "GET",
        path: "/v1/openapi.json",
        scope: None,
        op: Op::OpenApi,
    },
];

/// Where a request goes.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Found<'a> {
    /// The route, and the path's values for its `{…}` segments, in order.
    Route(&'static Route, Vec<&'a str>),
    /// The path is a route's, the method is not (405).
    WrongMethod,
    /// No route has this path (404).
    Nothing,
}

/// The route `method` on `segments` (the path after `/v1`) is. Of the
/// path templates that fit, the one with the fewest `{…}` segments wins
/// (`/v1/broadcasts/preview` over `/v1/broadcasts/{id}`), as in OpenAPI.
pub(crate) fn find<'a>(method: &str, segments: &[&'a str]) -> Found<'a> {
    let fits = |r: &Route| {
        let parts: Vec<&str> = r.path.trim_start_matches("/v1/").split('/').collect();
        (parts.len() == segments.len() && parts.iter().zip(segments).all(|(p, s)| p.starts_with('{') || p == s))
            .then(|| parts.iter().filter(|p| p.starts_with('{')).count())
    };
    let Some(fewest) = ROUTES.iter().filter_map(fits).min() else {
        return Found::Nothing;
    };
    let mut path_known = false;
    for r in ROUTES {
        if fits(r) != Some(fewest) {
            continue;
        }
        let parts: Vec<&str> = r.path.trim_start_matches("/v1/").split('/').collect();
        if r.method != method {
            path_known = true;
            continue;
        }
        let params = parts
            .iter()
            .zip(segments)
            .filter(|(p, _)| p.starts_with('{'))
            .map(|(_, s)| *s)
            .collect();
        return Found::Route(r, params);
    }
    if path_known {
        Found::WrongMethod
    } else {
        Found::Nothing
    }
}

/// How callers are authenticated.
pub enum AdminAuth {
    /// Bearer tokens (local runs): `OPTCAST_ADMIN_TOKEN` (every page and
    /// scope) and the table of `OPTCAST_API_TOKENS` / `OPTCAST_API_TOKENS_FILE`.
    Tokens(TokenTable),
    /// API Gateway's JWT authorizer already validated the token (AWS); the
    /// caller's pages are in the claim named here (`PAGES_CLAIM`).
    Gateway { pages_claim: String },
    /// Nothing configured: refuse everything.
    Closed,
}

impl Api {
    pub(crate) fn authenticate(&self, req: &Request) -> Result<Caller, ApiError> {
        match &self.auth {
            AdminAuth::Closed => Err(ApiError::Unauthorized),
            AdminAuth::Gateway { pages_claim } => {
                // API Gateway rejects unauthenticated calls before they get
                // here; still refuse a request that carries no JWT context.
                let jwt = match req.request_context_ref() {
                    Some(lambda_http::request::RequestContext::ApiGatewayV2(ctx)) => {
                        ctx.authorizer.as_ref().and_then(|a| a.jwt.as_ref())
                    }
                    _ => None,
                }
                .ok_or(ApiError::Unauthorized)?;
                Ok(access::from_jwt(&jwt.claims, jwt.scopes.as_deref(), pages_claim)?)
            }
            AdminAuth::Tokens(table) => {
                let given = req
                    .headers()
                    .get("authorization")
                    .and_then(|v| v.to_str().ok())
                    // The scheme is case-insensitive (RFC 9110 §11.1).
                    .and_then(|v| {
                        v.split_once(' ')
                            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
                    })
                    .map(|(_, token)| token)
                    .ok_or(ApiError::Unauthorized)?;
                table.authenticate(given.trim()).ok_or(ApiError::Unauthorized)
            }
        }
    }
}

/// The authentication the environment configures: bearer tokens,
/// `OPTCAST_ADMIN_TOKEN` (every page and scope, named `admin`) plus the table
/// in `OPTCAST_API_TOKENS` (JSON) or the file `OPTCAST_API_TOKENS_FILE`; else
/// API Gateway's JWT (`ADMIN_AUTH=api-gateway-jwt`, pages from the claim
/// `PAGES_CLAIM`, default `optcast_pages`); else nothing is allowed.
///
/// # Errors
/// [`ConfigError`] when the token table cannot be read or parsed.
pub(crate) fn auth_from_source(src: &dyn Source) -> Result<AdminAuth, ConfigError> {
    let json = match (src.get("OPTCAST_API_TOKENS"), src.get("OPTCAST_API_TOKENS_FILE")) {
        (Some(json), _) => Some(json),
        (None, Some(path)) => Some(
            std::fs::read_to_string(&path)
                .map_err(|e| ConfigError::Invalid("OPTCAST_API_TOKENS_FILE", e.to_string()))?,
        ),
        (None, None) => None,
    };
    let mut table = match json {
        Some(json) => {
            TokenTable::parse(&json).map_err(|e| ConfigError::Invalid("OPTCAST_API_TOKENS", e.to_string()))?
        }
        None => TokenTable::default(),
    };
    if let Some(admin) = src.get("OPTCAST_ADMIN_TOKEN") {
        table = table.with_admin("admin", &admin);
    }
    // Tokens, when configured, win: the local stack runs the template's
    // environment (which names the JWT authorizer) with tokens added.
    Ok(if !table.is_empty() {
        AdminAuth::Tokens(table)
    } else if src.get("ADMIN_AUTH").as_deref() == Some("api-gateway-jwt") {
        AdminAuth::Gateway {
            pages_claim: src.get("PAGES_CLAIM").unwrap_or_else(|| "optcast_pages".into()),
        }
    } else {
        AdminAuth::Closed
    })
}

#[cfg(test)]
mod tests;
