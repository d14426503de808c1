//! STOP/START keyword detection: the whole message, trimmed, case- and
//! accent-insensitive. "stop" inside a sentence is an ordinary message.

use unicode_normalization::UnicodeNormalization;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keyword {
    Stop,
    Start,
}

/// Opt-out words in English, Spanish, French, Italian, German and Portuguese,
/// in normalised form (lowercase, no accents, single spaces).
const STOP_WORDS: &[&str] = &[
    // English (the SMS-industry set plus common variants)
    "stop",
    "stopall",
    "stop all",
    "unsubscribe",
    "unsub",
    "cancel",
    "end",
    "quit",
    "opt out",
    "optout",
    "revoke",
    "remove me",
    "stop messages",
    "stop messaging",
    "stop messaging me",
    "stop sending",
    "stop sending me",
    "stop texting",
    "stop it",
    "unsubscribe me",
    "unsub me",
    "no more",
    "no more messages",
    // Spanish
    "alto",
    "baja",
    "darme de baja",
    "dar de baja",
    "detener",
    "parar",
    "cancelar",
    "no mas",
    "desuscribir",
    "desuscribirme",
    "anular suscripcion",
    // French
    "arret",
    "arreter",
    "arretez",
    "desabonner",
    "me desabonner",
    "se desabonner",
    "desinscrire",
    "me desinscrire",
    "annuler",
    // Italian
    "basta",
    "annulla",
    "cancella",
    "disiscrivi",
    "disiscrivimi",
    "stop messaggi",
    // German
    "stopp",
    "abmelden",
    "abbestellen",
    "austragen",
    "kundigen",
    "beenden",
    "aufhoren",
    // Portuguese
    "pare",
    "sair",
    "cancelar inscricao",
    "descadastrar",
    "descadastre",
    "remover",
    "chega",
];

const START_WORDS: &[&str] = &[
    "start",
    "unstop",
    "subscribe",
    "resubscribe",
    // Not "yes" (the SMS set has it): on Messenger the broadcast thread is
    // also the conversation, where "yes" answers anything.
    // Common equivalents in the same languages
    "empezar",
    "suscribir",
    "suscribirme",
    "reprendre",
    "abonner",
    "m abonner",
    "iscrivimi",
    "anmelden",
    "abonnieren",
    "starten",
    "assinar",
    "inscrever",
    "comecar",
];

/// Lowercases, strips accents and any non-alphanumeric characters (emoji,
/// punctuation) and collapses whitespace.
pub fn normalise(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut pending_space = false;
    for c in text.nfkd() {
        if unicode_normalization::char::is_combining_mark(c) {
            continue;
        }
        if c.is_alphanumeric() {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.extend(c.to_lowercase());
        } else {
            pending_space = true;
        }
    }
    out
}

/// Letters and digits of the longest keyword ("anular suscripcion").
const MAX_KEYWORD_ALNUM: usize = 17;

/// [`normalise`] of ASCII text (nothing to decompose): the same result
/// without the Unicode machinery.
fn normalise_ascii(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for word in text
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
    {
        if !out.is_empty() {
            out.push(' ');
        }
        out.extend(word.chars().map(|c| c.to_ascii_lowercase()));
    }
    out
}

/// Whether `bytes` holds more than `limit` ASCII letters and digits,
/// counted 32 bytes at a time into byte-wide counters (which the compiler
/// turns into SIMD; a plain filtered count widened every byte to 64 bits)
/// and stopping once the limit is passed.
fn ascii_alnum_exceed(bytes: &[u8], limit: usize) -> bool {
    let mut count = 0;
    for block in bytes.chunks(32) {
        let in_block = block.iter().fold(0u8, |n, b| n + u8::from(b.is_ascii_alphanumeric()));
        count += usize::from(in_block);
        if count > limit {
            return true;
        }
    }
    false
}

/// Courtesies around a request, in the keywords' six languages, normalised
/// (lowercase, no accents, single spaces).
const COURTESIES: &[&str] = &[
    "please",
    "pls",
    "plz",
    "thanks",
    "thank you",
    "thx",
    "now",
    "por favor",
    "gracias",
    "s il vous plait",
    "svp",
    "stp",
    "merci",
    "per favore",
    "grazie",
    "bitte",
    "danke",
    "obrigado",
    "obrigada",
];

/// A normalised text without the courtesies around it ("stop please",
/// "please unsubscribe me, thanks", "baja por favor", "stopp bitte"): a
/// request to stop is one however politely put (Meta: respect any request
/// to stop). Only stop words are read this way.
fn without_courtesies(mut norm: &str) -> &str {
    loop {
        let stripped = COURTESIES.iter().find_map(|c| {
            norm.strip_prefix(c)
                .and_then(|rest| rest.strip_prefix(' '))
                .or_else(|| norm.strip_suffix(c).and_then(|rest| rest.strip_suffix(' ')))
        });
        match stripped {
            Some(rest) => norm = rest,
            None => return norm,
        }
    }
}

/// Classifies a whole inbound message. Long messages are never keywords.
pub fn classify(text: &str) -> Option<Keyword> {
    // What surrounds the words (spaces, "!!!", emoji) does not make a
    // message too long to be a keyword.
    let text = text.trim_matches(|c: char| !c.is_alphanumeric());
    // Each ASCII letter or digit is one: counting those bytes is a cheap
    // lower bound that settles most messages without any Unicode lookup.
    if ascii_alnum_exceed(text.as_bytes(), 2 * MAX_KEYWORD_ALNUM) {
        return None;
    }
    // The longest keyword has 17 letters. Decomposition never turns a letter
    // or digit into none, so a text with over twice that many is ordinary:
    // most messages stop here, before any Unicode normalisation.
    if text.len() > 4 * MAX_KEYWORD_ALNUM * 2
        || text
            .chars()
            .filter(|c| c.is_alphanumeric())
            .take(2 * MAX_KEYWORD_ALNUM + 1)
            .count()
            > 2 * MAX_KEYWORD_ALNUM
    {
        return None;
    }
    let norm = if text.is_ascii() {
        normalise_ascii(text)
    } else {
        normalise(text)
    };
    if STOP_WORDS.contains(&without_courtesies(&norm)) {
        Some(Keyword::Stop)
    } else if START_WORDS.contains(&norm.as_str()) {
        Some(Keyword::Start)
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_blockwise_count_of_ascii_letters_and_digits_is_the_plain_count() {
        for text in ["", "STOP", "a-b c9", &"x1 ".repeat(40), &"é🎉Z".repeat(30)] {
            let plain = text.bytes().filter(u8::is_ascii_alphanumeric).count();
            for limit in [0, 1, plain.saturating_sub(1), plain, plain + 1, 34] {
                assert_eq!(
                    ascii_alnum_exceed(text.as_bytes(), limit),
                    plain > limit,
                    "{text:?} {limit}"
                );
            }
        }
    }

    #[test]
    fn the_ascii_shortcut_normalises_as_the_unicode_path_does() {
        for text in [
            "STOP",
            "  Opt-Out!! ",
            "stop...all",
            "a1 b2\tC3",
            "",
            "--",
            "Remove   ME",
        ] {
            assert_eq!(normalise_ascii(text), normalise(text), "{text:?}");
        }
    }

    #[test]
    fn no_keyword_has_more_letters_than_the_bound_and_long_texts_are_ordinary() {
        for word in STOP_WORDS.iter().chain(START_WORDS) {
            assert!(
                word.chars().filter(|c| c.is_alphanumeric()).count() <= MAX_KEYWORD_ALNUM,
                "{word}"
            );
        }
        assert_eq!(
            classify("Grüße, ça va? I'd like to know more about the offer 🎉 #1"),
            None
        );
        assert_eq!(classify("  ¡¡¡ BAJA !!!  🙏"), Some(Keyword::Stop));
    }

    #[test]
    fn stop_words_are_recognised_whatever_their_case_and_spacing() {
        for text in [
            "STOP",
            "stop",
            "  Stop \n",
            "STOPALL",
            "Unsubscribe",
            "cancel",
            "END",
            "quit",
            "Opt-Out",
            "stop.",
        ] {
            assert_eq!(classify(text), Some(Keyword::Stop), "{text:?}");
        }
    }

    #[test]
    fn stop_words_in_other_languages_with_or_without_accents() {
        for text in [
            "Arrêt",
            "arret",
            "ARRÊTER",
            "Désabonner",
            "Baja",
            "No más",
            "Basta",
            "Stopp",
            "Abmelden",
            "kündigen",
            "Aufhören",
            "Pare",
            "Sair",
            "Cancelar inscrição",
            "DETENER",
        ] {
            assert_eq!(classify(text), Some(Keyword::Stop), "{text:?}");
        }
    }

    #[test]
    fn emoji_and_punctuation_around_the_word_do_not_hide_it() {
        let shouted = format!("STOP{}", "!".repeat(70));
        for text in [
            "STOP 🛑",
            "🛑stop!!!",
            "¡Alto!",
            "«stop»",
            "\u{00a0}STOP\u{200b}",
            &shouted,
            "unsub",
        ] {
            assert_eq!(classify(text), Some(Keyword::Stop), "{text:?}");
        }
    }

    #[test]
    fn stop_inside_a_sentence_is_not_an_opt_out() {
        for text in [
            "please don't stop",
            "stop by the shop tomorrow?",
            "Is there a bus stop near you",
            "unsubscribe me later maybe",
            "stopwatch",
            "nonstop",
            "the end of the story",
        ] {
            assert_eq!(classify(text), None, "{text:?}");
        }
    }

    #[test]
    fn start_words_resubscribe() {
        for text in ["START", "unstop", "Subscribe", "RESUBSCRIBE!", " Start 👍 "] {
            assert_eq!(classify(text), Some(Keyword::Start), "{text:?}");
        }
    }

    #[test]
    fn yes_answers_a_question_and_is_no_opt_in() {
        for text in ["yes", "YES!", "Yes 👍", "start please"] {
            assert_eq!(classify(text), None, "{text:?}");
        }
    }

    #[test]
    fn a_request_to_stop_is_one_however_politely_put() {
        for text in [
            "stop please",
            "Please stop!",
            "STOP PLS",
            "unsubscribe me",
            "Please unsubscribe me, thanks",
            "stop sending me",
            "Stop it",
            "No more messages",
            "no more!",
            "stop now",
            "stop please thanks",
            "unsubscribe please thank you",
            "Baja, por favor",
            "Stopp bitte",
            "Arrêtez s'il vous plaît",
            "Basta grazie",
            "Pare por favor, obrigado",
        ] {
            assert_eq!(classify(text), Some(Keyword::Stop), "{text:?}");
        }
        for text in [
            "please",
            "thanks",
            "please don't stop",
            "no more questions",
            "stop by now",
        ] {
            assert_eq!(classify(text), None, "{text:?}");
        }
    }

    #[test]
    fn ordinary_text_and_empty_messages_are_not_keywords() {
        for text in [
            "",
            "   ",
            "🙂",
            "hello",
            "yes please send me the price",
            &"stop ".repeat(40),
        ] {
            assert_eq!(classify(text), None, "{text:?}");
        }
    }

    #[test]
    fn normalise_folds_accents_and_case() {
        assert_eq!(normalise("  Ça  VA? Désolé "), "ca va desole");
    }
}
