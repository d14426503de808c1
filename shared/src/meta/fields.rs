//! Which webhook fields Meta documents carry what: the `changes` fields
//! whose value is a messaging item, how a value of a field not named is
//! still read as one by its shape, and the item fields that ask nothing of
//! optcast (sources: Meta's Messenger and Instagram webhook references).

use serde_json::value::RawValue;

/// `changes` fields that carry a messaging item as their `value` (Instagram
/// delivers its messaging webhooks this way too): the webhook field names of
/// Meta's Messenger and Instagram references (`message_edits`,
/// `messaging_handovers`; the singular spellings are kept as earlier
/// versions read them). A value of another field is read as a messaging
/// item too when it has one's shape ([`is_messaging_item`]); the rest are
/// ignored.
pub(super) const MESSAGING_FIELDS: &[&str] = &[
    "messages",
    "messaging_postbacks",
    "messaging_optins",
    "messaging_referral",
    "messaging_referrals",
    "message_reactions",
    "messaging_seen",
    "message_edits",
    "message_edit",
    "message_deliveries",
    "message_reads",
    "message_echoes",
    "messaging_handovers",
    "messaging_handover",
    "messaging_account_linking",
    "messaging_game_plays",
    "messaging_policy_enforcement",
    "messaging_feedback",
    "standby",
];

/// Whether a `changes` value has the shape of a messaging item: an object
/// (serde would read a struct from an array too) whose `sender` and
/// `recipient` are objects with an `id`. Such a value
/// under a field [`MESSAGING_FIELDS`] does not name (one Meta adds, or a
/// name we spell differently) is read as one, so it cannot hide a person's
/// STOP; a page's other changes (`feed`, Instagram's `comments`: a `from`,
/// no sender and recipient) stay ignored.
pub(super) fn is_messaging_item(value: &str) -> bool {
    #[derive(serde::Deserialize)]
    struct Party<'a> {
        #[serde(borrow)]
        id: Option<&'a RawValue>,
    }
    #[derive(serde::Deserialize)]
    struct Item<'a> {
        #[serde(borrow)]
        sender: Option<Party<'a>>,
        #[serde(borrow)]
        recipient: Option<Party<'a>>,
    }
    value.trim_start().starts_with('{')
        && matches!(
            serde_json::from_str::<Item<'_>>(value),
            Ok(Item {
                sender: Some(Party { id: Some(_) }),
                recipient: Some(Party { id: Some(_) })
            })
        )
}

/// Item fields Meta documents that ask nothing of optcast: recorded only.
pub(super) const IGNORED_ITEM_FIELDS: &[&str] = &[
    "pass_thread_control",
    "take_thread_control",
    "request_thread_control",
    "app_roles",
    "policy_enforcement",
    "account_linking",
    "game_play",
    "messaging_feedback",
    "response_feedback",
    "checkout_update",
    "payment",
    "pre_checkout",
];
