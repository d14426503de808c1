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
    "stop sending messages",
    "stop sending me messages",
    "stop all messages",
    "stop texting",
    "stop it",
    "unsubscribe me",
    "unsubscribe all",
    "unsub me",
    "no more",
    "no more messages",
    // Spanish
    "alto",
    "baja",
    "darme de baja",
    "dar de baja",
    "dame de baja",
    "darse de baja",
    "cancelar suscripcion",
    "no mas mensajes",
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
    "se desinscrire",
    "desabonnez moi",
    "desinscrivez moi",
    "desabonnement",
    "desinscription",
    "annuler",
    // Italian
    "basta",
    "annulla",
    "cancella",
    "disiscrivi",
    "disiscrivimi",
    "annulla iscrizione",
    "cancellami",
    "basta messaggi",
    "stop messaggi",
    // German
    "stopp",
    "abmelden",
    "abbestellen",
    "austragen",
    "kundigen",
    "beenden",
    "aufhoren",
    // Umlauts typed as two letters (ö as oe, ü as ue).
    "aufhoeren",
    "kuendigen",
    // Portuguese
    "pare",
    "sair",
    "cancelar inscricao",
    "descadastrar",
    "descadastre",
    "descadastre me",
    "cancelar assinatura",
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

/// Letters and digits of the longest text read as a keyword: a keyword with
/// courtesies around it ("please stop sending me messages, thank you": every
/// keyword leaves room for a "please" and a "thank you"). A text with more
/// is an ordinary message, settled before any Unicode lookup (the webhook's
/// hot path: most messages stop here).
const MAX_REQUEST_ALNUM: usize = 35;

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

/// The word a normalised text spells out letter by letter ("S T O P",
/// "s.t.o.p": single letters between spaces), if it is one.
fn spelled_out(norm: &str) -> Option<String> {
    (norm.len() > 2 && norm.split(' ').all(|w| w.chars().count() == 1)).then(|| norm.split(' ').collect())
}

/// Classifies a whole inbound message. Long messages are never keywords.
pub fn classify(text: &str) -> Option<Keyword> {
    // What surrounds the words (spaces, "!!!", emoji) does not make a
    // message too long to be a keyword.
    let text = text.trim_matches(|c: char| !c.is_alphanumeric());
    // Each ASCII letter or digit is one: counting those bytes is a cheap
    // lower bound that settles most messages without any Unicode lookup.
    if ascii_alnum_exceed(text.as_bytes(), MAX_REQUEST_ALNUM) {
        return None;
    }
    // Decomposition never turns a letter or digit into none, so a text
    // with more than a request's letters is ordinary: most messages stop
    // here, before any Unicode normalisation.
    if text.len() > 4 * MAX_REQUEST_ALNUM
        || text
            .chars()
            .filter(|c| c.is_alphanumeric())
            .take(MAX_REQUEST_ALNUM + 1)
            .count()
            > MAX_REQUEST_ALNUM
    {
        return None;
    }
    let norm = if text.is_ascii() {
        normalise_ascii(text)
    } else {
        normalise(text)
    };
    let request = without_courtesies(&norm);
    if STOP_WORDS.contains(&request) || spelled_out(request).is_some_and(|w| STOP_WORDS.contains(&w.as_str())) {
        Some(Keyword::Stop)
    } else if START_WORDS.contains(&norm.as_str()) {
        Some(Keyword::Start)
    } else {
        None
    }
}

#[cfg(test)]
mod tests;
