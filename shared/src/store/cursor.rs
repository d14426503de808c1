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
}
