//! The one tag rule. A lead's tags come from Meta referrals and plugin
//! opt-ins (`ref`), a broadcast's audience names tags; both follow the same
//! form, so a broadcast can name every tag a lead can carry.

use std::collections::BTreeSet;

/// Longest tag, in characters (Unicode scalar values, not bytes).
pub const MAX_TAG_CHARS: usize = 100;
/// Most tags a lead carries, and most tags a broadcast's audience names.
pub const MAX_TAGS: usize = 50;

/// A tag's allowed form: 1 to [`MAX_TAG_CHARS`] characters, not only
/// whitespace, none that hides what is shown ([`crate::text::is_label`]:
/// a tag is printed by the CLI and the console), and not `.` or `..`: the
/// API names a tag in a URL path (`…/tags/<tag>`), where those two mean
/// "this path" and "its parent" (percent-encoded too, RFC 3986 and the
/// WHATWG URL standard), so such a tag could be added but never named
/// again by the CLI or the console.
pub fn is_valid(tag: &str) -> bool {
    is_stored_form(tag) && crate::text::is_label(tag) && !matches!(tag, "." | "..")
}

/// The form any stored tag has, including those stored before
/// [`is_valid`] refused hidden characters: 1 to [`MAX_TAG_CHARS`]
/// characters. Removing a tag and filtering by one accept it, so such a tag
/// can still be found and taken off.
pub fn is_stored_form(tag: &str) -> bool {
    !tag.is_empty() && tag.chars().count() <= MAX_TAG_CHARS
}

/// Adds the tag a referral or opt-in `ref` names to a lead's tags: cut to
/// [`MAX_TAG_CHARS`] characters; nothing for one not of the allowed form
/// (empty, control characters), or once the lead has [`MAX_TAGS`].
pub fn add(tags: &mut BTreeSet<String>, raw: &str) {
    let tag: String = raw.chars().take(MAX_TAG_CHARS).collect();
    if is_valid(&tag) && tags.len() < MAX_TAGS {
        tags.insert(tag);
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "at most {MAX_TAGS} tags of 1 to {MAX_TAG_CHARS} characters, not only whitespace, without control characters, not . or .."
)]
pub struct InvalidTags;

/// A broadcast's audience tags: at most [`MAX_TAGS`], each of the allowed
/// form; returned sorted, a tag given twice once (DynamoDB refuses a set
/// with duplicates).
///
/// # Errors
/// [`InvalidTags`] when there are too many or one is not of the allowed form.
pub fn audience(mut raw: Vec<String>) -> Result<Vec<String>, InvalidTags> {
    if raw.len() > MAX_TAGS || !raw.iter().all(|t| is_valid(t)) {
        return Err(InvalidTags);
    }
    raw.sort();
    raw.dedup();
    Ok(raw)
}

/// A lead is in a broadcast's audience when the broadcast names no tags, or
/// the lead has one of them.
pub fn audience_matches(lead_tags: &BTreeSet<String>, tags: &[String]) -> bool {
    tags.is_empty() || lead_tags.iter().any(|t| tags.contains(t))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_tag_of_one_or_two_dots_is_refused_as_a_url_path_cannot_name_it() {
        assert!(!is_valid("."));
        assert!(!is_valid(".."));
        // Only the two dot segments: other dotted tags are ordinary ones.
        for ok in ["...", ".a", "a.", "v1.2"] {
            assert!(is_valid(ok), "{ok}");
        }
        // A referral's `ref` of dots adds nothing.
        let mut tags = BTreeSet::new();
        add(&mut tags, "..");
        assert!(tags.is_empty());
        assert_eq!(audience(vec!["..".into()]), Err(InvalidTags));
    }

    #[test]
    fn a_tag_is_one_to_a_hundred_characters_counted_as_characters() {
        assert!(!is_valid(""));
        assert!(is_valid("spring"));
        assert!(is_valid(&"x".repeat(100)));
        assert!(!is_valid(&"x".repeat(101)));
        // 100 two-byte characters: 200 bytes, still one allowed tag.
        assert!(is_valid(&"é".repeat(100)));
        assert!(!is_valid(&"é".repeat(101)));
    }

    #[test]
    fn every_tag_a_lead_can_get_is_one_a_broadcast_may_name() {
        for raw in ["a", &"é".repeat(250), &"x".repeat(100), "🌷 spring"] {
            let mut tags = BTreeSet::new();
            add(&mut tags, raw);
            let tag = tags.into_iter().next().unwrap();
            assert!(tag.chars().count() <= MAX_TAG_CHARS);
            assert_eq!(audience(vec![tag.clone()]), Ok(vec![tag]));
        }
    }

    #[test]
    fn a_lead_gets_no_empty_tag_and_at_most_fifty() {
        let mut tags = BTreeSet::new();
        add(&mut tags, "");
        assert!(tags.is_empty());
        for i in 0..60 {
            add(&mut tags, &format!("t{i}"));
        }
        assert_eq!(tags.len(), MAX_TAGS);
    }

    #[test]
    fn a_broadcast_names_at_most_fifty_valid_tags_sorted_once_each() {
        assert_eq!(
            audience(vec!["b".into(), "a".into(), "b".into()]),
            Ok(vec!["a".to_string(), "b".to_string()])
        );
        assert_eq!(audience(vec![String::new()]), Err(InvalidTags));
        assert_eq!(audience(vec!["x".repeat(101)]), Err(InvalidTags));
        assert_eq!(audience((0..51).map(|i| format!("t{i}")).collect()), Err(InvalidTags));
        assert!(audience((0..50).map(|i| format!("t{i}")).collect()).is_ok());
        assert_eq!(audience(vec![]), Ok(vec![]));
    }

    #[test]
    fn an_audience_without_tags_is_everyone_else_a_lead_needs_one_of_them() {
        let lead: BTreeSet<String> = ["spring".to_string()].into();
        assert!(audience_matches(&lead, &[]));
        assert!(audience_matches(&BTreeSet::new(), &[]));
        assert!(audience_matches(&lead, &["autumn".into(), "spring".into()]));
        assert!(!audience_matches(&lead, &["autumn".into()]));
        assert!(!audience_matches(&BTreeSet::new(), &["spring".into()]));
    }
}
