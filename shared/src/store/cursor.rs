//! The one cursor type: where a paged read goes on (DynamoDB's
//! `LastEvaluatedKey`), opaque outside the store. The planner keeps its
//! audience position as text on the broadcast ([`Cursor::encode`]); the
//! sweep keeps its position as a map in the privacy table.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;

use super::item::Item;

/// Where a paged read goes on.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor(pub(crate) Item);

impl Cursor {
    /// The cursor as text (JSON of its string attributes; every key
    /// attribute of the indexes it is used on is a string).
    pub fn encode(&self) -> String {
        encode_cursor(&self.0)
    }

    /// A cursor from [`Cursor::encode`]'s text; `None` for `""` (the start)
    /// or text that is not one.
    pub fn decode(text: &str) -> Option<Self> {
        decode_cursor(text).map(Cursor)
    }

    /// The cursor as an opaque token for an API caller (base64url of
    /// [`Cursor::encode`], no padding), to hand back as `?cursor=`.
    pub fn to_token(&self) -> String {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(self.encode())
    }

    /// A cursor from [`Cursor::to_token`]'s text; `None` for anything else
    /// (the API answers 400 `invalid_cursor`).
    pub fn from_token(token: &str) -> Option<Self> {
        use base64::Engine;
        if token.is_empty() || token.len() > 2048 {
            return None;
        }
        let text = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(token).ok()?;
        Cursor::decode(std::str::from_utf8(&text).ok()?)
    }

    /// The string attribute `name` of the key, if any (the store checks a
    /// caller's cursor names the partition being read).
    pub(crate) fn attr(&self, name: &str) -> Option<&str> {
        self.0.get(name).and_then(|v| v.as_s().ok()).map(String::as_str)
    }
}

fn encode_cursor(key: &HashMap<String, AttributeValue>) -> String {
    let plain: BTreeMap<&str, &str> = key
        .iter()
        .filter_map(|(k, v)| Some((k.as_str(), v.as_s().ok()?.as_str())))
        .collect();
    serde_json::to_string(&plain).unwrap_or_default()
}

fn decode_cursor(cursor: &str) -> Option<HashMap<String, AttributeValue>> {
    if cursor.is_empty() {
        return None;
    }
    let plain: HashMap<String, String> = serde_json::from_str(cursor).ok()?;
    Some(plain.into_iter().map(|(k, v)| (k, AttributeValue::S(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip() {
        let key: HashMap<String, AttributeValue> =
            [("pk", "PAGE#1"), ("sk", "SUB#2"), ("audience_pk", "PAGE#1#SHARD#3")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string())))
                .collect();
        assert_eq!(decode_cursor(&encode_cursor(&key)), Some(key));
        assert_eq!(decode_cursor(""), None);
    }

    #[test]
    fn a_token_round_trips_and_garbage_is_no_cursor() {
        let c = Cursor(
            [("pk", "BCAST#1"), ("page_pk", "PAGE#1")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), AttributeValue::S(v.to_string())))
                .collect(),
        );
        assert_eq!(Cursor::from_token(&c.to_token()), Some(c));
        for bad in ["", "!!", "bm90IGpzb24", &"A".repeat(3000)] {
            assert_eq!(Cursor::from_token(bad), None, "{bad}");
        }
    }
}
