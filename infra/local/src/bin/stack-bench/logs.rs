//! What the functions logged, kept by a minimal tracing subscriber that
//! counts ingest's job reports, warnings and errors.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// What the functions logged, kept by a minimal tracing subscriber: ingest's
/// report of every job it finished, and every warning or error.
#[derive(Clone, Default)]
pub(crate) struct Logs(Arc<Mutex<Seen>>);

#[derive(Clone, Default)]
pub(crate) struct Seen {
    /// When the large delivery was split, and how many items it deferred.
    pub(crate) split: Option<(Instant, u64)>,
    /// Jobs ingest finished other than the split (chunks and small deliveries).
    pub(crate) jobs: u64,
    pub(crate) applied: u64,
    pub(crate) duplicates: u64,
    pub(crate) recorded: u64,
    pub(crate) quarantined: u64,
    /// Jobs that ran past the work budget and queued the rest of themselves.
    pub(crate) requeued_jobs: u64,
    pub(crate) requeued_items: u64,
    pub(crate) failed_records: u64,
    pub(crate) warnings: u64,
    pub(crate) errors: u64,
    pub(crate) samples: Vec<String>,
}

impl Seen {
    /// Items done with, one way or another.
    pub(crate) fn settled(&self) -> u64 {
        self.applied + self.duplicates + self.recorded + self.quarantined
    }
}

impl Logs {
    pub(crate) fn snapshot(&self) -> Seen {
        self.0.lock().expect("logs").clone()
    }
    pub(crate) fn reset(&self) {
        *self.0.lock().expect("logs") = Seen::default();
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    numbers: BTreeMap<&'static str, u64>,
    others: Vec<String>,
}

impl tracing::field::Visit for Fields {
    fn record_u64(&mut self, field: &tracing::field::Field, value: u64) {
        self.numbers.insert(field.name(), value);
    }
    fn record_i64(&mut self, field: &tracing::field::Field, value: i64) {
        self.numbers.insert(field.name(), value.max(0) as u64);
    }
    fn record_str(&mut self, field: &tracing::field::Field, value: &str) {
        match field.name() {
            "message" => self.message = value.to_string(),
            name => self.others.push(format!("{name}={value}")),
        }
    }
    fn record_debug(&mut self, field: &tracing::field::Field, value: &dyn std::fmt::Debug) {
        match field.name() {
            "message" => self.message = format!("{value:?}"),
            name => self.others.push(format!("{name}={value:?}")),
        }
    }
}

impl tracing::Subscriber for Logs {
    fn enabled(&self, meta: &tracing::Metadata<'_>) -> bool {
        meta.is_event()
            && (*meta.level() <= tracing::Level::WARN
                || (*meta.level() <= tracing::Level::INFO && meta.target().starts_with("ingest")))
    }
    fn max_level_hint(&self) -> Option<tracing::level_filters::LevelFilter> {
        Some(tracing::level_filters::LevelFilter::INFO)
    }
    fn new_span(&self, _: &tracing::span::Attributes<'_>) -> tracing::span::Id {
        tracing::span::Id::from_u64(1)
    }
    fn record(&self, _: &tracing::span::Id, _: &tracing::span::Record<'_>) {}
    fn record_follows_from(&self, _: &tracing::span::Id, _: &tracing::span::Id) {}
    fn event(&self, event: &tracing::Event<'_>) {
        let mut f = Fields::default();
        event.record(&mut f);
        let level = *event.metadata().level();
        let mut seen = self.0.lock().expect("logs");
        if f.message == "delivery ingested" {
            let n = |k: &str| f.numbers.get(k).copied().unwrap_or(0);
            let (items, deferred) = (n("items"), n("deferred"));
            if deferred == items && n("applied") == 0 && items > ingest::CHUNK_ITEMS as u64 {
                seen.split = Some((Instant::now(), deferred));
            } else {
                seen.jobs += 1;
                seen.applied += n("applied");
                seen.duplicates += n("duplicates");
                seen.recorded += n("recorded");
                seen.quarantined += n("quarantined");
                if deferred > 0 {
                    seen.requeued_jobs += 1;
                    seen.requeued_items += deferred;
                }
            }
        }
        if level <= tracing::Level::WARN {
            match level {
                tracing::Level::ERROR => seen.errors += 1,
                _ => seen.warnings += 1,
            }
            if f.message == "record failed" {
                seen.failed_records += 1;
            }
            if seen.samples.len() < 10 {
                let line = format!(
                    "{level} {}: {} {}",
                    event.metadata().target(),
                    f.message,
                    f.others.join(" ")
                );
                seen.samples.push(line);
            }
        }
    }
    fn enter(&self, _: &tracing::span::Id) {}
    fn exit(&self, _: &tracing::span::Id) {}
}
