//! One table-driven check for the functions' configuration tests: each case
//! changes one variable of a complete configuration and names the error the
//! function must refuse it with (what is missing, unreadable or out of
//! bounds), so no function starts on a configuration it cannot use.

use super::{ConfigError, Source};

/// The refusal a case expects, naming the variable (as the error names it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// [`ConfigError::Missing`] with this name.
    Missing(&'static str),
    /// [`ConfigError::Invalid`] of this variable.
    Invalid(&'static str),
    /// [`ConfigError::OutOfRange`] of this variable.
    OutOfRange(&'static str),
}

impl Refused {
    /// Whether `err` is this refusal.
    pub fn matches(self, err: &ConfigError) -> bool {
        match (self, err) {
            (Refused::Missing(want), ConfigError::Missing(got)) => want == *got,
            (Refused::Invalid(want), ConfigError::Invalid(got, _)) => want == *got,
            (Refused::OutOfRange(want), ConfigError::OutOfRange { name, .. }) => want == *name,
            _ => false,
        }
    }
}

/// A configuration for a function's tests: `extra`'s values, and for each
/// other name `required` accepts a placeholder, `v-NAME`; nothing else set.
pub fn source(
    extra: &'static [(&'static str, &'static str)],
    required: fn(&str) -> bool,
) -> impl Fn(&str) -> Option<String> + Send + Sync {
    move |name: &str| {
        extra
            .iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .or_else(|| required(name).then(|| format!("v-{name}")))
    }
}

/// One case: the variable changed (`None`: unset; `Some(v)`: set to `v`) and
/// the refusal expected.
pub type Case = (&'static str, Option<&'static str>, Refused);

/// Asserts that `parse` refuses each case: `base` (a configuration `parse`
/// accepts) with that one variable changed. Panics naming the first case
/// that is accepted or refused otherwise.
pub fn assert_refused<T>(parse: impl Fn(&dyn Source) -> Result<T, ConfigError>, base: &dyn Source, cases: &[Case]) {
    for &(name, value, refused) in cases {
        let changed = |n: &str| {
            if n == name {
                value.map(str::to_string)
            } else {
                base.get(n)
            }
        };
        match parse(&changed) {
            Err(err) if refused.matches(&err) => {}
            Err(err) => panic!("{name} = {value:?}: expected {refused:?}, got {err:?}"),
            Ok(_) => panic!("{name} = {value:?}: expected {refused:?}, but it was accepted"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(src: &dyn Source) -> Result<u32, ConfigError> {
        let raw = src.get("N").ok_or(ConfigError::Missing("N"))?;
        let n: u32 = raw.parse().map_err(|_| ConfigError::Invalid("N", raw.clone()))?;
        if n == 0 {
            return Err(ConfigError::OutOfRange {
                name: "N",
                value: raw,
                min: "1".into(),
                max: "9".into(),
            });
        }
        Ok(n)
    }

    #[test]
    fn every_case_refused_as_expected_passes() {
        let base = |n: &str| (n == "N").then(|| "3".to_string());
        assert_refused(
            parse,
            &base,
            &[
                ("N", None, Refused::Missing("N")),
                ("N", Some("x"), Refused::Invalid("N")),
                ("N", Some("0"), Refused::OutOfRange("N")),
            ],
        );
    }

    #[test]
    #[should_panic(expected = "expected Invalid")]
    fn a_case_refused_otherwise_fails() {
        let base = |n: &str| (n == "N").then(|| "3".to_string());
        assert_refused(parse, &base, &[("N", Some("0"), Refused::Invalid("N"))]);
    }

    #[test]
    #[should_panic(expected = "but it was accepted")]
    fn a_case_accepted_fails() {
        let base = |n: &str| (n == "N").then(|| "3".to_string());
        assert_refused(parse, &base, &[("N", Some("4"), Refused::Missing("N"))]);
    }
}
