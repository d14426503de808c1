//! Ids read from the query string.

use lambda_http::{Request, RequestExt};

use crate::{bad, ApiError};

/// A required id from the query string, read by `parse`: absent, a 400
/// `code` that names the parameter; malformed, a 400 `code` saying why.
pub(crate) fn required_query<T, E: std::fmt::Display>(
    req: &Request,
    name: &str,
    code: &'static str,
    parse: impl FnOnce(&str) -> Result<T, E>,
) -> Result<T, ApiError> {
    let params = req.query_string_parameters();
    let raw = params.first(name).ok_or_else(|| {
        bad(
            code,
            format!(
                "invalid {}: the {name} query parameter is required",
                name.replace('_', " ")
            ),
        )
    })?;
    parse(raw).map_err(|e| bad(code, e.to_string()))
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use lambda_http::{Body, Request, RequestExt};
    use optcast_shared::ids::PageId;

    use super::required_query;
    use crate::ApiError;

    fn request(query: &[(&str, &str)]) -> Request {
        let params: HashMap<String, String> = query.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Request::new(Body::Empty).with_query_string_parameters(params)
    }

    fn page(req: &Request) -> Result<PageId, ApiError> {
        required_query(req, "page_id", "invalid_page_id", |raw| PageId::parse(raw))
    }

    #[test]
    fn a_missing_query_id_is_named_as_required_and_a_bad_one_says_why() {
        match page(&request(&[])) {
            Err(ApiError::BadRequest("invalid_page_id", m)) => {
                assert_eq!(m, "invalid page id: the page_id query parameter is required")
            }
            other => panic!("{other:?}"),
        }
        match page(&request(&[("page_id", "12x")])) {
            Err(ApiError::BadRequest("invalid_page_id", m)) => assert!(!m.contains("required"), "{m}"),
            other => panic!("{other:?}"),
        }
        assert_eq!(
            page(&request(&[("page_id", "1000000000000001")])).unwrap().as_str(),
            "1000000000000001"
        );
    }
}
