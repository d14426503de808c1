//! The ASID→PSID lookup a data-deletion request needs (`ids_for_pages`).

use secrecy::{ExposeSecret, SecretString};
use serde_json::Value;

use super::{appsecret_proof, local_error, origin, parse_error, with_credentials};
use super::{ErrorClass, GraphClient, GraphError};
use crate::ids::{PageId, Psid};

/// A bound on `paging.next` hops: a user has a handful of pages per business,
/// and a cursor loop must not spin forever.
const MAX_ID_PAGES: usize = 100;

impl GraphClient {
    /// The PSIDs the app-scoped user `asid` has on the business's Pages
    /// (`GET /{asid}/ids_for_pages` with the app token and `appsecret_proof`),
    /// following `paging.next` to the end. All or nothing: a partial list
    /// would make an erasure silently incomplete.
    ///
    /// # Errors
    /// [`GraphError`] for a malformed `asid`, a Graph API error, an answer we
    /// cannot read or a `paging.next` leading elsewhere or on forever.
    #[tracing::instrument(skip_all)]
    pub async fn ids_for_pages(
        &self,
        asid: &str,
        app_id: &str,
        app_secret: &SecretString,
    ) -> Result<Vec<(PageId, Psid)>, GraphError> {
        if crate::ids::check_meta_id("asid", asid).is_err() {
            return Err(local_error(400, ErrorClass::Invalid, "asid is not a Meta id"));
        }
        // The URL carries the app secret (in the token): errors must not name it.
        let network = |e: reqwest::Error| local_error(0, ErrorClass::Transient, &e.without_url().to_string());
        let odd_answer = || local_error(502, ErrorClass::Transient, "unexpected ids_for_pages response");
        let token = format!("{app_id}|{}", app_secret.expose_secret());
        let proof = appsecret_proof(&token, app_secret.expose_secret());
        let first = reqwest::Url::parse(&format!("{}/{}/ids_for_pages", self.base_url, asid))
            .map_err(|_| local_error(0, ErrorClass::Invalid, "GRAPH_API_URL is not a URL"))?;
        let home = origin(&first);
        let mut url = first;
        let mut ids = Vec::new();
        for _ in 0..MAX_ID_PAGES {
            let resp = self
                .http
                .get(with_credentials(&url, &token, &proof))
                .send()
                .await
                .map_err(network)?;
            let status = resp.status().as_u16();
            let body = resp.text().await.map_err(network)?;
            if !(200..300).contains(&status) {
                return Err(parse_error(status, &body));
            }
            // Never put `body` in an error from here on: it lists PSIDs.
            let v: Value = serde_json::from_str(&body).map_err(|_| odd_answer())?;
            for item in v["data"].as_array().ok_or_else(odd_answer)? {
                let psid = item["id"].as_str().and_then(|s| Psid::parse(s).ok());
                let page = item["page"]["id"].as_str().and_then(|s| PageId::parse(s).ok());
                match (page, psid) {
                    (Some(page), Some(psid)) => ids.push((page, psid)),
                    _ => return Err(odd_answer()),
                }
            }
            match v["paging"]["next"].as_str() {
                None => return Ok(ids),
                Some(next) => {
                    let next = reqwest::Url::parse(next).map_err(|_| odd_answer())?;
                    if origin(&next) != home {
                        return Err(local_error(
                            502,
                            ErrorClass::Invalid,
                            "paging.next leads away from the Graph API",
                        ));
                    }
                    url = next;
                }
            }
        }
        Err(local_error(
            502,
            ErrorClass::Transient,
            "ids_for_pages paging did not end",
        ))
    }
}
