//! The marketer's web console (`GET /console`, its assets under
//! `/console/<file>`): static files compiled into the API function, served
//! without a token (they hold nothing private: every datum the console shows
//! comes from `/v1`, called with the token the user types), same origin as
//! the API, so no CORS. Every answer carries a strict Content-Security-Policy
//! (`sign_in.rs`: which sign-in, and the provider origins it may call).
//! `/console/config.json` tells the console how to sign in;
//! `/console/callback` is the page again, where the identity provider
//! sends the browser back with its code.
//! Why from the API function and not S3 + CloudFront: see the README
//! ("The console").

use lambda_http::{Body, Request, RequestExt, Response};
use optcast_shared::http::error_body;

use crate::sign_in::SignIn;

/// What the console's answers carry that comes from configuration: its
/// public config document and its Content-Security-Policy, built once.
pub(crate) struct Site {
    config_json: String,
    csp: String,
}

impl Site {
    pub(crate) fn new(sign_in: &SignIn) -> Self {
        Self {
            config_json: sign_in.config_json(),
            csp: sign_in.content_security_policy(),
        }
    }
}

/// One static file: its name under `/console/`, content type and text.
struct File {
    name: &'static str,
    content_type: &'static str,
    text: &'static str,
}

macro_rules! console_file {
    ($name:literal, $type:expr) => {
        File {
            name: $name,
            content_type: $type,
            text: include_str!(concat!("../console/", $name)),
        }
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file the console has (`functions/api/console/`); a unit test holds
/// this table to the folder.
const FILES: &[File] = &[
    console_file!("index.html", "text/html; charset=utf-8"),
    console_file!("console.css", "text/css; charset=utf-8"),
    console_file!("app.js", JS),
    console_file!("api.js", JS),
    console_file!("ui.js", JS),
    console_file!("chart.js", JS),
    console_file!("pages.js", JS),
    console_file!("compose.js", JS),
    console_file!("broadcasts.js", JS),
    console_file!("leads.js", JS),
    console_file!("signin.js", JS),
];

/// The file `path` names: `/console` and `/console/` are the page itself,
/// `/console/<name>` one of its assets.
fn lookup(path: &str) -> Option<&'static File> {
    let name = match path.strip_prefix("/console")? {
        // The OIDC redirect URI: the page reads the code and state.
        "" | "/" | "/callback" => "index.html",
        rest => rest.strip_prefix('/')?,
    };
    FILES.iter().find(|f| f.name == name)
}

/// The console's answer to `req` when its path is the console's
/// (`/console`, `/console/...`), else `None` (the API's routes). Only `GET`
/// and `HEAD`; an unknown file is 404, as JSON like every other error.
pub(crate) fn serve(req: &Request, site: &Site) -> Option<Response<Body>> {
    let raw = req.raw_http_path();
    let path = if raw.is_empty() { req.uri().path() } else { raw };
    if path != "/console" && !path.starts_with("/console/") {
        return None;
    }
    let method = req.method().as_str();
    let (status, content_type, body) = match (method, lookup(path)) {
        ("GET" | "HEAD", _) if path == "/console/config.json" => (200, "application/json", site.config_json.clone()),
        ("GET" | "HEAD", Some(f)) => (200, f.content_type, f.text.to_string()),
        ("GET" | "HEAD", None) => (
            404,
            "application/json",
            error_body("not_found", "the console has no such file"),
        ),
        _ => (
            405,
            "application/json",
            error_body("method_not_allowed", "the console is read with GET"),
        ),
    };
    let body = if method == "HEAD" {
        Body::Empty
    } else {
        Body::Text(body)
    };
    Some(
        Response::builder()
            .status(status)
            .header("content-type", content_type)
            .header("content-security-policy", site.csp.as_str())
            .header("x-content-type-options", "nosniff")
            .header("referrer-policy", "no-referrer")
            .header("x-frame-options", "DENY")
            // Small files, compiled into the function: a deploy must show at once.
            .header("cache-control", "no-cache")
            .body(body)
            .expect("static response parts"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign_in::CONTENT_SECURITY_POLICY;

    fn get(method: &str, path: &str) -> Option<Response<Body>> {
        get_from(&Site::new(&SignIn::Token), method, path)
    }

    fn get_from(site: &Site, method: &str, path: &str) -> Option<Response<Body>> {
        let req = lambda_http::http::Request::builder()
            .method(method)
            .uri(format!("http://localhost{path}"))
            .body(Body::Empty)
            .unwrap();
        serve(&Request::from(req), site)
    }

    fn text(resp: &Response<Body>) -> &str {
        match resp.body() {
            Body::Text(t) => t,
            _ => "",
        }
    }

    #[test]
    fn the_console_page_is_served_at_slash_console_with_a_strict_policy_and_no_token() {
        for path in ["/console", "/console/", "/console/index.html"] {
            let resp = get("GET", path).expect("a console path");
            assert_eq!(resp.status(), 200, "{path}");
            assert!(text(&resp).contains("<title>optcast console</title>"));
            let csp = resp.headers()["content-security-policy"].to_str().unwrap();
            assert!(csp.starts_with("default-src 'none'; script-src 'self';"), "{csp}");
            assert!(!csp.contains("unsafe"), "{csp}");
            assert_eq!(resp.headers()["x-content-type-options"], "nosniff");
        }
        let js = get("GET", "/console/app.js").unwrap();
        assert_eq!(js.headers()["content-type"], JS);
    }

    #[test]
    fn the_console_learns_how_to_sign_in_from_its_config_and_its_policy_allows_only_that_provider() {
        let token = get("GET", "/console/config.json").unwrap();
        assert_eq!(token.status(), 200);
        assert_eq!(text(&token), r#"{"sign_in":"token"}"#);
        assert_eq!(token.headers()["content-security-policy"], CONTENT_SECURITY_POLICY);
        let oidc = SignIn::from_source(&|n: &str| match n {
            "CONSOLE_OIDC_CLIENT_ID" => Some("console".to_string()),
            "CONSOLE_OIDC_ISSUER" => Some("https://idp.example.com/tenant".to_string()),
            _ => None,
        })
        .unwrap();
        let site = Site::new(&oidc);
        for path in ["/console", "/console/callback", "/console/config.json"] {
            let resp = get_from(&site, "GET", path).unwrap();
            assert_eq!(resp.status(), 200, "{path}");
            let csp = resp.headers()["content-security-policy"].to_str().unwrap();
            assert!(csp.contains("connect-src 'self' https://idp.example.com;"), "{csp}");
        }
        let config: serde_json::Value =
            serde_json::from_str(text(&get_from(&site, "GET", "/console/config.json").unwrap())).unwrap();
        assert_eq!(config["sign_in"], "oidc");
        assert_eq!(config["issuer"], "https://idp.example.com/tenant");
        // The callback is the page itself.
        assert!(text(&get_from(&site, "GET", "/console/callback").unwrap()).contains("<title>optcast console</title>"));
    }

    #[test]
    fn only_the_console_files_are_served_and_only_to_get_and_head() {
        assert_eq!(get("GET", "/console/../Cargo.toml").unwrap().status(), 404);
        assert_eq!(get("GET", "/console/nothing.js").unwrap().status(), 404);
        assert_eq!(get("GET", "/console/app.js/x").unwrap().status(), 404);
        assert_eq!(get("POST", "/console").unwrap().status(), 405);
        let head = get("HEAD", "/console").unwrap();
        assert_eq!(head.status(), 200);
        assert!(matches!(head.body(), Body::Empty));
        assert!(get("GET", "/consoles").is_none());
        assert!(get("GET", "/v1/broadcasts").is_none());
    }

    #[test]
    fn every_file_in_the_console_folder_is_in_the_table_and_no_other() {
        let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/console");
        let mut on_disk: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        on_disk.sort();
        let mut served: Vec<String> = FILES.iter().map(|f| f.name.to_string()).collect();
        served.sort();
        assert_eq!(on_disk, served);
    }

    #[test]
    fn the_console_never_writes_html_from_strings() {
        // Trusted Types would refuse it at run time; this says where.
        for f in FILES.iter().filter(|f| f.name.ends_with(".js")) {
            for sink in [
                "innerHTML",
                "outerHTML",
                "insertAdjacentHTML",
                "document.write",
                "eval(",
            ] {
                assert!(!f.text.contains(sink), "{} uses {sink}", f.name);
            }
        }
    }

    #[test]
    fn the_page_loads_nothing_inline_and_nothing_from_elsewhere() {
        let index = lookup("/console").unwrap().text;
        assert!(!index.contains("<style"), "inline style");
        assert!(!index.contains("style="), "inline style attribute");
        for (i, _) in index.match_indices("<script") {
            let tag = &index[i..index[i..].find('>').map_or(index.len(), |e| i + e)];
            assert!(tag.contains("src=\"/console/"), "{tag}");
        }
        assert!(!index.contains("http://") && !index.contains("https://"));
    }
}
