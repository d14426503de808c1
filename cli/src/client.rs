//! The management API over HTTP: one call shape, JSON in and out, every
//! failure turned into a [`CliError`] (the API's error body read, never
//! dumped).

use std::time::Duration;

use reqwest::{Method, Url};
use serde_json::Value;

use crate::error::CliError;

/// A client of one endpoint with one bearer token.
pub struct Api {
    http: reqwest::Client,
    base: Url,
    token: String,
}

impl Api {
    /// # Errors
    /// [`CliError::Usage`] when `endpoint` is not an http(s) URL, or is plain
    /// http to a host other than this machine (the bearer token would cross
    /// the network in the clear).
    pub fn new(endpoint: &str, token: String) -> Result<Self, CliError> {
        let base = Url::parse(endpoint)
            .ok()
            .filter(|u| matches!(u.scheme(), "http" | "https") && !u.cannot_be_a_base())
            .ok_or_else(|| CliError::Usage(format!("endpoint {endpoint:?} is not an http(s) URL")))?;
        let loopback = base.host_str().is_some_and(|h| {
            h.eq_ignore_ascii_case("localhost")
                || h.trim_matches(['[', ']'])
                    .parse::<std::net::IpAddr>()
                    .is_ok_and(|ip| ip.is_loopback())
        });
        if base.scheme() == "http" && !loopback {
            return Err(CliError::Usage(format!(
                "endpoint {endpoint:?}: the token is sent only over https (plain http only to this machine)"
            )));
        }
        let http = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(10))
            .timeout(Duration::from_secs(120))
            .user_agent(concat!("optcast-cli/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| CliError::Network(format!("HTTP client: {e}")))?;
        Ok(Api { http, base, token })
    }

    /// `method` on the path made of `segments` (each percent-encoded, so a
    /// tag with spaces or `/` stays one segment), with `query` pairs whose
    /// value is set and an optional JSON body. The answer's JSON (`null`
    /// when empty).
    ///
    /// # Errors
    /// [`CliError::Api`] for an error status (its `error.code` and
    /// `error.message`), [`CliError::NotTheApi`] for one without the API's
    /// error body,
    /// [`CliError::Network`] when no answer came or it was not JSON.
    pub async fn call(
        &self,
        method: Method,
        segments: &[&str],
        query: &[(&str, Option<String>)],
        body: Option<&Value>,
    ) -> Result<Value, CliError> {
        let url = self.url(segments, query)?;
        let mut req = self.http.request(method, url.clone()).bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req
            .send()
            .await
            .map_err(|e| CliError::Network(format!("no answer from {}: {}", self.base, root_cause(&e))))?;
        let status = resp.status().as_u16();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| CliError::Network(format!("reading the answer from {}: {}", self.base, root_cause(&e))))?;
        let json: Option<Value> = if bytes.is_empty() {
            Some(Value::Null)
        } else {
            serde_json::from_slice(&bytes).ok()
        };
        if (200..300).contains(&status) {
            return json.ok_or_else(|| {
                CliError::Network(format!("the answer from {} (HTTP {status}) is not JSON", self.base))
            });
        }
        Err(api_error(status, json.as_ref()))
    }

    /// # Errors
    /// [`CliError::Usage`] for a segment `.` or `..` (an id or tag given as
    /// such): URLs resolve them as "this" and "the parent" path (percent-
    /// encoded too), so the request would reach another route.
    fn url(&self, segments: &[&str], query: &[(&str, Option<String>)]) -> Result<Url, CliError> {
        if let Some(dots) = segments.iter().find(|s| matches!(**s, "." | "..")) {
            return Err(CliError::Usage(format!(
                "{dots:?} is not an id or a tag: in a URL it names the path itself or its parent"
            )));
        }
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        let set: Vec<_> = query.iter().filter_map(|(k, v)| v.as_ref().map(|v| (*k, v))).collect();
        if !set.is_empty() {
            url.query_pairs_mut().extend_pairs(set);
        }
        Ok(url)
    }
}

/// The error an error status and its body mean.
pub fn api_error(status: u16, body: Option<&Value>) -> CliError {
    let error = body.and_then(|b| b.get("error"));
    let text = |k: &str| error.and_then(|e| e.get(k)).and_then(Value::as_str).map(str::to_string);
    match (text("code"), text("message")) {
        (Some(code), message) => CliError::Api {
            status,
            message: message.unwrap_or_else(|| code.replace('_', " ")),
            code,
        },
        // API Gateway's own answers (`{"message":"Unauthorized"}`).
        _ => CliError::NotTheApi {
            status,
            message: body
                .and_then(|b| b.get("message"))
                .and_then(Value::as_str)
                .map(|m| crate::render::text(&Value::String(m.chars().take(200).collect()))),
        },
    }
}

/// The innermost cause of a reqwest error ("Connection refused", …), which
/// says more than reqwest's own "error sending request".
fn root_cause(e: &reqwest::Error) -> String {
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    if e.is_timeout() {
        return "timed out".into();
    }
    cause.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn path_segments_are_percent_encoded_one_by_one() {
        let api = Api::new("http://127.0.0.1:3000/", "t".into()).unwrap();
        let url = api
            .url(
                &["v1", "pages", "1", "subscribers", "2", "tags", "spring sale/2027"],
                &[("state", Some("sending".into())), ("cursor", None)],
            )
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:3000/v1/pages/1/subscribers/2/tags/spring%20sale%2F2027?state=sending"
        );
    }

    #[test]
    fn an_endpoint_with_a_stage_path_keeps_it() {
        let api = Api::new("https://x.example.com/prod", "t".into()).unwrap();
        assert_eq!(
            api.url(&["v1", "broadcasts"], &[]).unwrap().as_str(),
            "https://x.example.com/prod/v1/broadcasts"
        );
    }

    #[test]
    fn an_endpoint_that_is_not_a_url_is_a_usage_error() {
        assert!(matches!(
            Api::new("localhost:3000", "t".into()),
            Err(CliError::Usage(_))
        ));
        assert!(matches!(Api::new("ftp://x", "t".into()), Err(CliError::Usage(_))));
    }

    #[test]
    fn the_token_goes_over_plain_http_only_to_this_machine() {
        for far in [
            "http://api.example.com",
            "http://10.0.0.7:3000",
            "http://127.0.0.1.example.com",
        ] {
            assert!(
                matches!(Api::new(far, "t".into()), Err(CliError::Usage(m)) if m.contains("https")),
                "{far}"
            );
        }
        for near in [
            "http://127.0.0.1:3000",
            "http://localhost:3000",
            "http://[::1]:3000",
            "https://api.example.com",
        ] {
            assert!(Api::new(near, "t".into()).is_ok(), "{near}");
        }
    }

    #[test]
    fn the_api_error_body_gives_code_and_message() {
        let body = serde_json::json!({"error": {"code": "invalid_psid", "message": "psid must be digits"}});
        assert_eq!(
            api_error(400, Some(&body)),
            CliError::Api {
                status: 400,
                code: "invalid_psid".into(),
                message: "psid must be digits".into()
            }
        );
    }

    #[test]
    fn an_error_without_the_api_body_names_the_status() {
        let e = api_error(502, None);
        assert_eq!(e.code(), "http_502");
        assert_eq!(e.exit_code(), 8);
        // A 404 from something that is not the API says nothing about the
        // resource: a server error (8), not "not found" (4).
        let html = serde_json::json!("<html>Not Found</html>");
        for body in [None, Some(&html)] {
            assert_eq!(api_error(404, body).exit_code(), 8, "{body:?}");
        }
    }

    #[test]
    fn the_gateways_own_refusal_keeps_its_exit_code_and_words() {
        // API Gateway's JWT authorizer: an expired token, a missing scope.
        let unauthorized = serde_json::json!({"message": "Unauthorized"});
        let e = api_error(401, Some(&unauthorized));
        assert_eq!(e.exit_code(), crate::error::code::AUTH);
        assert_eq!(
            e.to_string(),
            "HTTP 401 from the endpoint's gateway: Unauthorized (http_401)"
        );
        let throttled = serde_json::json!({"message": "Too Many Requests"});
        assert_eq!(
            api_error(429, Some(&throttled)).exit_code(),
            crate::error::code::RATE_LIMITED
        );
    }

    #[test]
    fn a_dot_segment_is_refused_before_it_reaches_another_route() {
        let api = Api::new("http://127.0.0.1:3000/", "t".into()).unwrap();
        for dots in [".", ".."] {
            let refused = api.url(&["v1", "pages", "1", "subscribers", dots], &[]);
            assert!(
                matches!(&refused, Err(CliError::Usage(m)) if m.contains(&format!("{dots:?}"))),
                "{dots}: {refused:?}"
            );
        }
        // Dots inside a segment are just characters.
        assert!(api.url(&["v1", "tags", "...", "a.b"], &[]).is_ok());
    }
}
