//! The one rule for short text a marketer or Meta gives and people read
//! back (tags, titles, broadcast names): no characters that hide or
//! rewrite what is shown.

/// Whether `s` holds a character that would hide or rewrite what is shown
/// where it is printed: a control character (C0, DEL, C1: terminal escapes,
/// newlines, NUL) or a Unicode bidirectional override or isolate
/// (U+202A–U+202E, U+2066–U+2069, which reorder the text around them).
pub fn has_hidden_characters(s: &str) -> bool {
    s.chars()
        .any(|c| c.is_control() || matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}'))
}

/// Whether `s` is a one-line label: something visible (not only
/// whitespace) and nothing [`has_hidden_characters`] refuses.
pub fn is_label(s: &str) -> bool {
    !s.trim().is_empty() && !has_hidden_characters(s)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_label_is_visible_and_hides_nothing() {
        for ok in ["spring", "Été 2026", "🎉 sale", "a b"] {
            assert!(is_label(ok), "{ok:?}");
        }
        for bad in [
            "",
            " ",
            "\n",
            "a\nb",
            "\u{1b}[2J",
            "a\u{0}",
            "\u{7f}",
            "\u{85}",
            "abc\u{202E}def",
            "\u{2066}x",
        ] {
            assert!(!is_label(bad), "{bad:?}");
        }
    }
}
