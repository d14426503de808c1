//! A lead Meta said cannot be reached (they blocked the page or deleted
//! their account) who writes again: Meta can reach them once more.
//! Unreachable is Meta's word, not the person's, so this is no rule of
//! [`super::decide`] (an ordinary message changes no consent): it is the
//! person starting a conversation again, a fresh consent as for an erased
//! lead, and it takes them out of the unreachable purge.

use crate::meta::InboundEvent;

use super::{intent, ConsentChange, ConsentIntent, ConsentReason, ConsentState, SubscriberStatus};

/// The change when `event` shows an unreachable lead can be reached again:
/// they wrote (a message, a postback, a plugin opt-in; not a reaction or a
/// receipt), sent after Meta said they could not be reached. A message sent
/// before (Meta's late retry) proves nothing, nor does one whose time could
/// not be trusted (clamped to its receipt: the order is unknown); their next
/// message does. An opt-in or opt-out is [`super::decide`]'s.
pub fn reachable_again(lead: Option<ConsentState>, event: &InboundEvent) -> Option<ConsentChange> {
    let lead = lead?;
    let sent_after = !event.time_clamped && event.timestamp_ms > lead.status_since_ms;
    (lead.status == SubscriberStatus::Unreachable && intent(event) == ConsentIntent::Contact && sent_after).then_some(
        ConsentChange {
            from: Some(SubscriberStatus::Unreachable),
            to: SubscriberStatus::Subscribed,
            reason: ConsentReason::FirstContact,
        },
    )
}

#[cfg(test)]
mod tests {
    use super::super::tests::text;
    use super::*;
    use crate::consent::{apply, Outcome, Prior};
    use crate::meta::EventTime;
    use SubscriberStatus::*;

    fn lead(status: SubscriberStatus, since_ms: i64) -> Option<ConsentState> {
        Some(ConsentState {
            status,
            last_word: EventTime { ms: 0, clamped: false },
            prior_erasure_at_ms: None,
            status_since_ms: since_ms,
        })
    }

    #[test]
    fn an_unreachable_lead_who_writes_after_being_marked_is_subscribed_again() {
        let back = reachable_again(lead(Unreachable, 100), &text("hello again", 200)).unwrap();
        assert_eq!(
            (back.from, back.to, back.reason),
            (Some(Unreachable), Subscribed, ConsentReason::FirstContact)
        );
        // Through ingest's whole decision too, with the new message as proof.
        let prior = Prior {
            lead: lead(Unreachable, 100),
            tombstone: None,
        };
        let Outcome::Update(changes) = apply(prior, &text("hello again", 200)) else {
            panic!("the lead is updated");
        };
        assert_eq!(changes.consent, Some(back));
    }

    #[test]
    fn a_message_sent_before_the_lead_was_marked_or_of_unknown_time_changes_nothing() {
        assert_eq!(reachable_again(lead(Unreachable, 100), &text("old", 100)), None);
        assert_eq!(reachable_again(lead(Unreachable, 100), &text("old", 50)), None);
        let mut clamped = text("hello", 200);
        clamped.time_clamped = true;
        assert_eq!(reachable_again(lead(Unreachable, 100), &clamped), None);
    }

    #[test]
    fn only_an_unreachable_lead_who_writes_is_concerned() {
        for status in [Subscribed, Unsubscribed, Erased] {
            assert_eq!(
                reachable_again(lead(status, 100), &text("hello", 200)),
                None,
                "{status:?}"
            );
        }
        assert_eq!(reachable_again(None, &text("hello", 200)), None);
        // A STOP from them still unsubscribes (decide's), never subscribes.
        assert_eq!(reachable_again(lead(Unreachable, 100), &text("STOP", 200)), None);
        let prior = Prior {
            lead: lead(Unreachable, 100),
            tombstone: None,
        };
        let Outcome::Update(changes) = apply(prior, &text("STOP", 200)) else {
            panic!("the lead is updated");
        };
        assert_eq!(changes.consent.map(|c| c.to), Some(Unsubscribed));
    }
}
