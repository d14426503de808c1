//! Reading Meta's fields where the meaning is clear even when the type is
//! not the documented one: real deliveries (and tools replaying them) carry
//! numbers as strings, floats for integers and timestamps in seconds.

use serde_json::Value;

/// Timestamps below this (10^11) are seconds, not milliseconds: in ms it is
/// March 1973, in seconds the year 5138. Meta documents milliseconds, but
/// some Instagram deliveries and replay tools send seconds.
pub const SECONDS_BELOW: i64 = 100_000_000_000;

/// Largest float that is still an exact integer (2^53).
const EXACT_FLOAT_LIMIT: f64 = 9_007_199_254_740_992.0;

/// A text field: a string as is, a number as its decimal text.
pub(crate) fn text(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(integral(n).map_or_else(|| n.to_string(), |i| i.to_string())),
        _ => None,
    }
}

/// An id: a non-empty string, or a non-negative integral number (up to
/// `u64::MAX`, Meta's ids being 64-bit) as its decimal text. Whether it is a
/// Meta id is for [`crate::ids`] to say.
pub(crate) fn id(v: Option<&Value>) -> Option<String> {
    match v? {
        Value::String(s) if !s.is_empty() => Some(s.clone()),
        Value::Number(n) => n
            .as_u64()
            .map(|u| u.to_string())
            .or_else(|| integral(n).filter(|i| *i >= 0).map(|i| i.to_string())),
        _ => None,
    }
}

/// A non-negative integer count (`num_edit`, `app_id`): number or numeric text.
pub(crate) fn count(v: Option<&Value>) -> Option<u64> {
    let n = match v? {
        Value::Number(n) => integral(n)?,
        Value::String(s) => s.trim().parse::<i64>().ok()?,
        _ => return None,
    };
    u64::try_from(n).ok()
}

/// A flag: `true`, or the text `"true"`.
pub(crate) fn flag(v: Option<&Value>) -> bool {
    match v {
        Some(Value::Bool(b)) => *b,
        Some(Value::String(s)) => s.eq_ignore_ascii_case("true"),
        _ => false,
    }
}

/// A timestamp in ms: integer, float or numeric text; seconds (below
/// [`SECONDS_BELOW`]) are converted. `None` when absent, not a number, or
/// not positive. Far-future values are kept here and clamped by
/// [`super::EventTime`].
pub(crate) fn time_ms(v: Option<&Value>) -> Option<i64> {
    let raw: f64 = match v? {
        Value::Number(n) => n.as_i64().map(|i| i as f64).or_else(|| n.as_f64())?,
        Value::String(s) => s.trim().parse::<f64>().ok().filter(|f| f.is_finite())?,
        _ => return None,
    };
    ms_from_number(raw)
}

/// A timestamp's number in ms: seconds (below [`SECONDS_BELOW`]) converted,
/// `None` when not positive.
pub(crate) fn ms_from_number(raw: f64) -> Option<i64> {
    if raw < 1.0 {
        return None;
    }
    let ms = if raw < SECONDS_BELOW as f64 { raw * 1000.0 } else { raw };
    // `as` saturates: 1e300 becomes i64::MAX, clamped later.
    Some(ms.trunc() as i64)
}

/// `raw` JSON with every lone UTF-16 surrogate escape (`\ud83d` without its
/// pair: an emoji cut in half) replaced by U+FFFD, which serde_json refuses
/// otherwise; `None` when there is none.
pub(crate) fn repair_lone_surrogates(raw: &str) -> Option<String> {
    let code = |at: usize| -> Option<u16> {
        let hex = raw.get(at..at + 6)?.strip_prefix("\\u")?;
        u16::from_str_radix(hex, 16).ok()
    };
    let (mut out, mut i, mut changed) = (String::with_capacity(raw.len()), 0, false);
    let bytes = raw.as_bytes();
    while i < bytes.len() {
        if bytes[i] != b'\\' {
            let next = raw[i..].chars().next().map_or(1, char::len_utf8);
            out.push_str(&raw[i..i + next]);
            i += next;
            continue;
        }
        match code(i) {
            Some(0xD800..=0xDBFF) if code(i + 6).is_some_and(|low| (0xDC00..=0xDFFF).contains(&low)) => {
                out.push_str(&raw[i..i + 12]);
                i += 12;
            }
            Some(0xD800..=0xDFFF) => {
                out.push_str("\\ufffd");
                changed = true;
                i += 6;
            }
            _ => {
                // Any other escape, `\\` included, is copied whole.
                let end = (i + 2).min(bytes.len());
                out.push_str(&raw[i..end]);
                i = end;
            }
        }
    }
    changed.then_some(out)
}

fn integral(n: &serde_json::Number) -> Option<i64> {
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    if let Some(u) = n.as_u64() {
        return i64::try_from(u).ok();
    }
    let f = n.as_f64()?;
    (f.fract() == 0.0 && f.abs() < EXACT_FLOAT_LIMIT).then_some(f as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn timestamps_in_any_clear_form_are_milliseconds() {
        for v in [
            json!(1764547200123i64),
            json!(1764547200123.0),
            json!("1764547200123"),
            json!(" 1764547200123 "),
            json!(1764547200.123),
        ] {
            assert_eq!(time_ms(Some(&v)), Some(1764547200123), "{v}");
        }
        assert_eq!(time_ms(Some(&json!(1764547200))), Some(1764547200000));
        assert_eq!(time_ms(Some(&json!("1764547200"))), Some(1764547200000));
    }

    #[test]
    fn timestamps_that_are_not_numbers_or_not_positive_are_absent() {
        for v in [
            json!("yesterday"),
            json!(null),
            json!(0),
            json!(-5),
            json!([1]),
            json!({"t": 1}),
        ] {
            assert_eq!(time_ms(Some(&v)), None, "{v}");
        }
        assert_eq!(time_ms(None), None);
        assert_eq!(time_ms(Some(&json!(1e300))), Some(i64::MAX));
    }

    #[test]
    fn ids_are_strings_or_whole_numbers() {
        assert_eq!(id(Some(&json!("123"))), Some("123".into()));
        assert_eq!(id(Some(&json!(1234567890123456u64))), Some("1234567890123456".into()));
        assert_eq!(id(Some(&json!(1234567890123456.0))), Some("1234567890123456".into()));
        assert_eq!(id(Some(&json!(u64::MAX))), Some("18446744073709551615".into()));
        assert_eq!(id(Some(&json!(1.5))), None);
        assert_eq!(id(Some(&json!(-1))), None);
        assert_eq!(id(Some(&json!(""))), None);
        assert_eq!(id(Some(&json!({"id": 1}))), None);
    }

    #[test]
    fn lone_surrogates_are_replaced_and_pairs_kept() {
        let fixed = repair_lone_surrogates(r#"{"text":"STOP \ud83d","ok":"\ud83d\ude00","esc":"\\ud83d"}"#).unwrap();
        let v: Value = serde_json::from_str(&fixed).unwrap();
        assert_eq!(v["text"], "STOP \u{fffd}");
        assert_eq!(v["ok"], "\u{1f600}");
        assert_eq!(v["esc"], "\\ud83d");
        assert_eq!(
            repair_lone_surrogates(r#"{"a":"\ude00 x"}"#).unwrap(),
            r#"{"a":"\ufffd x"}"#
        );
        assert_eq!(repair_lone_surrogates(r#"{"a":"fine \u00e9"}"#), None);
    }

    #[test]
    fn texts_accept_numbers_as_their_decimal_form() {
        assert_eq!(text(Some(&json!(42))), Some("42".into()));
        assert_eq!(text(Some(&json!(42.0))), Some("42".into()));
        assert_eq!(
            text(Some(&json!("OPTCAST_UNSUBSCRIBE"))),
            Some("OPTCAST_UNSUBSCRIBE".into())
        );
        assert_eq!(text(Some(&json!(true))), None);
        assert_eq!(count(Some(&json!("2"))), Some(2));
        assert_eq!(count(Some(&json!(2.0))), Some(2));
        assert_eq!(count(Some(&json!(-2))), None);
        assert!(flag(Some(&json!("true"))) && flag(Some(&json!(true))) && !flag(Some(&json!(1))));
    }
}
