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
    // Every keyword leaves room for a "please" and a "thank you" around it.
    for word in STOP_WORDS.iter().chain(START_WORDS) {
        let letters = word.chars().filter(|c| c.is_alphanumeric()).count();
        assert!(
            letters + "please".len() + "thankyou".len() <= MAX_REQUEST_ALNUM,
            "{word}"
        );
    }
    assert_eq!(
        classify("Please stop sending me messages, thank you!"),
        Some(Keyword::Stop)
    );
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
    // Common whole-message opt-outs each language's speakers write (helper
    // probe, 3 December), and a word spelled out letter by letter.
    for text in [
        "Stop sending me messages",
        "stop all messages",
        "Unsubscribe all",
        "Dame de baja",
        "Cancelar suscripción",
        "Désabonnez-moi",
        "Désinscrivez-moi",
        "Se désinscrire",
        "Annulla iscrizione",
        "Cancellami",
        "Aufhoeren",
        "Kuendigen bitte",
        "Descadastre-me",
        "Cancelar assinatura",
        "S T O P",
        "s.t.o.p.",
        "U-N-S-U-B-S-C-R-I-B-E please",
    ] {
        assert_eq!(classify(text), Some(Keyword::Stop), "{text:?}");
    }
    for text in ["s t a r t", "o k", "a b c d", "stop sending me the price list"] {
        assert_eq!(classify(text), None, "{text:?}");
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
