//! The shape almost every delivery has — one or more entries whose items
//! are a person's text message:
//! `{"sender":{"id"},"recipient":{"id"},"timestamp","message":{"mid","text"}}`
//! — read in one typed pass that borrows from the body, instead of through
//! raw items and a `serde_json::Value` each. The item's text is not kept: its
//! proof hash and, when needed, its canonical JSON are rebuilt from the event
//! ([`super::ProofHash`], [`ItemBody::TextMessage`]). This is the webhook hot
//! path (`make bench`).
//!
//! The one-pass read of a whole delivery uses sonic-rs (SIMD string
//! scanning), the per-item read serde_json: both through the same serde
//! types, so they accept the same shapes; sonic-rs read the hot path's
//! delivery in fewer instructions than serde_json (`webhook-bench`).
//!
//! Anything unusual (another field anywhere, a field of another type, a
//! duplicate key, an id that is not Meta's, a recipient that is not the
//! entry's page, a lone surrogate, nesting, an object given as an array) is
//! `None`, and the delivery (or
//! the item) takes the general path, which reads every shape. Both give the
//! same units and keys: the tests below hold them to it.

use smol_str::SmolStr;
use std::borrow::Cow;

use serde::Deserialize;
use sonic_rs::LazyValue;

use super::lenient::ms_from_number;
use super::parse::{entry_context, platform};
use super::*;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextDelivery<'a> {
    #[serde(borrow)]
    object: LazyValue<'a>,
    #[serde(borrow)]
    entry: Vec<MapOnly<TextEntry<'a>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextEntry<'a> {
    #[serde(borrow, default)]
    id: Option<LazyValue<'a>>,
    #[serde(borrow, default)]
    time: Option<LazyValue<'a>>,
    #[serde(borrow)]
    messaging: Vec<MapOnly<TextItem<'a>>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TextItem<'a> {
    #[serde(borrow)]
    sender: MapOnly<Party<'a>>,
    #[serde(borrow)]
    recipient: MapOnly<Party<'a>>,
    timestamp: i64,
    #[serde(borrow)]
    message: MapOnly<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Party<'a> {
    id: &'a str,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Text<'a> {
    mid: &'a str,
    #[serde(borrow)]
    text: Cow<'a, str>,
}

/// A struct read only from a JSON object. serde's derived structs also
/// accept an array of their fields in order (`[{"id":"6"},…]`), which the
/// general path reads as no object at all; refusing arrays also bounds the
/// nesting the read can meet by the types' own depth (six), whatever the
/// parser's recursion limit.
struct MapOnly<T>(T);

impl<'de, T: Deserialize<'de>> Deserialize<'de> for MapOnly<T> {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Object<T>(std::marker::PhantomData<T>);
        impl<'de, T: Deserialize<'de>> serde::de::Visitor<'de> for Object<T> {
            type Value = T;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
                T::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            }
        }
        deserializer
            .deserialize_map(Object(std::marker::PhantomData))
            .map(MapOnly)
    }
}

/// Most `{` and `[` bytes a body read by sonic-rs may hold. sonic-rs skips a
/// value it does not take (a field of another type) recursively, with no
/// depth limit: a body nested thousands deep would overflow the stack. Each
/// level of nesting needs its own opening byte, so a body with no more than
/// this many (those inside strings only add to the count) is nested no
/// deeper. That is a delivery of up to about 30 text messages (4 per item);
/// larger ones take the general path (serde_json stops at depth 128).
const MAX_OPENERS: usize = 128;

/// `text` (a delivery's body) read in one pass, or `None` when any part of
/// it is not the fast path's shape.
pub(super) fn text_delivery(text: &str, received_at_ms: i64) -> Option<Delivery> {
    // memchr counts with SIMD (a plain filtered count of the bytes cost more
    // than the parse it guards).
    let openers =
        memchr::memchr_iter(b'{', text.as_bytes()).count() + memchr::memchr_iter(b'[', text.as_bytes()).count();
    if openers > MAX_OPENERS {
        return None;
    }
    let MapOnly(delivery): MapOnly<TextDelivery> = sonic_rs::from_str(text).ok()?;
    let platform = platform(delivery.object.as_raw_str()).ok()?;
    let mut items = Vec::with_capacity(delivery.entry.iter().map(|e| e.0.messaging.len()).sum());
    for MapOnly(entry) in delivery.entry {
        let (id, time) = (entry.id.as_ref(), entry.time.as_ref());
        let (page_id, entry_time) = entry_context(id.map(LazyValue::as_raw_str), time.map(LazyValue::as_raw_str));
        let page_id = page_id?;
        let ctx = super::parse::Context {
            platform,
            page_id: Some(&page_id),
            entry_time,
            received_at_ms,
        };
        let (entry_id, entry_time): (Option<SmolStr>, Option<SmolStr>) =
            (id.map(|v| v.as_raw_str().into()), time.map(|v| v.as_raw_str().into()));
        for item in entry.messaging {
            items.push(DeliveryItem {
                entry_id: entry_id.clone(),
                entry_time: entry_time.clone(),
                source: Source::Messaging,
                body: ItemBody::TextMessage(ctx.text_event(&page_id, text_message_of(item, &page_id)?, false)),
            });
        }
    }
    Some(Delivery {
        platform,
        object: delivery.object.as_raw_str().to_string(),
        items,
    })
}

/// A text message read on the fast path.
pub(super) struct TextMessage {
    pub sender: Psid,
    /// Meta's timestamp as given (ms, or seconds), before it is trusted.
    pub timestamp: i64,
    pub mid: Mid,
    pub text: String,
}

impl TextMessage {
    /// Meta's timestamp in ms (seconds converted), before it is trusted.
    pub fn timestamp_ms(&self) -> Option<i64> {
        // As the general path reads an integer: through f64.
        ms_from_number(self.timestamp as f64)
    }
}

/// `raw` (one item of `page`'s entry) as a text message, or `None` when it
/// is not exactly that shape.
pub(super) fn text_message(raw: &str, page: &PageId) -> Option<TextMessage> {
    text_message_of(serde_json::from_str(raw).ok()?, page)
}

fn text_message_of(MapOnly(item): MapOnly<TextItem>, page: &PageId) -> Option<TextMessage> {
    // The canonical text is rebuilt with the page as recipient.
    if item.recipient.0.id != page.as_str() {
        return None;
    }
    Some(TextMessage {
        sender: Psid::parse(item.sender.0.id).ok()?,
        timestamp: item.timestamp,
        mid: Mid::parse(item.message.0.mid).ok()?,
        text: item.message.0.text.into_owned(),
    })
}

#[cfg(test)]
mod tests;
