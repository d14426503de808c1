//! CPU cost of the webhook, ingest and sender hot paths, one core, no I/O:
//! `cargo bench -p optcast-shared` (or `make bench`).

use std::time::Duration;

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use optcast_shared::crypto::{self, DataKey, KeyRing};
use optcast_shared::ids::{PageId, Psid};
use optcast_shared::{consent, meta, signature};

fn ten_event_delivery() -> Vec<u8> {
    let items: Vec<_> = (0..10)
        .map(|i| {
            serde_json::json!({"sender":{"id":format!("2400000000{i}")},"recipient":{"id":"1000000001"},"timestamp":1_718_000_000_000i64 + i,
                "message":{"mid":format!("m_AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-{i}"),"text":"Hi! Is the offer still available? \u{00e9}\u{1f600}",
                "quick_reply":{"payload":"PRICE"}}})
        })
        .collect();
    let body = serde_json::json!({"object":"page","entry":[{"id":"1000000001","time":1_718_000_000_123i64,"messaging":items}]});
    // Meta's escaped wire form.
    let mut out = String::new();
    for c in body.to_string().chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            let mut buf = [0u16; 2];
            for u in c.encode_utf16(&mut buf) {
                out.push_str(&format!("\\u{u:04x}"));
            }
        }
    }
    out.into_bytes()
}

fn bench(c: &mut Criterion) {
    let secret = b"0123456789abcdef0123456789abcdef";
    let body = ten_event_delivery();
    let header = signature::sign(secret, &body);
    // Built once, as the webhook builds it at cold start.
    let key = signature::SignatureKey::new(secret).unwrap();

    let mut g = c.benchmark_group("webhook");
    g.throughput(Throughput::Elements(10));
    g.bench_function("verify_and_parse_10_event_delivery", |b| {
        b.iter(|| {
            key.verify(Some(&header), &body).unwrap();
            let delivery = meta::parse_delivery(&body, 1_718_000_060_000).unwrap();
            // The consent decision for each event is part of the ingest work too.
            for e in delivery.events() {
                std::hint::black_box(consent::decide(None, e));
            }
            delivery
        })
    });
    g.finish();

    let rt = aws_config::SdkConfig::builder()
        .behavior_version(aws_config::BehaviorVersion::latest())
        .build();
    let keys = KeyRing::new(aws_sdk_kms::Client::new(&rt), "unused");
    let key = DataKey::from_parts([7; 32], vec![1; 184]);
    keys.remember(&key);
    let page = PageId::parse("1000000001").unwrap();
    let psid = Psid::parse("24000000001").unwrap();
    let message = vec![b'a'; 1024];
    let mut g = c.benchmark_group("crypto");
    g.throughput(Throughput::Bytes(1024));
    g.bench_function("seal_1kib_with_cached_key", |b| {
        b.iter_batched(
            || (),
            |_| {
                let key = keys.cached(&key.wrapped).expect("cached");
                crypto::seal(
                    &key,
                    &crypto::associated_data(&["message", page.as_str(), psid.as_str(), "m_1"]),
                    &message,
                )
            },
            BatchSize::SmallInput,
        )
    });
    g.finish();

    // The sender's own work per job, outside I/O: parse the queued job, decide
    // the route under Meta's policy, render the message with its Unsubscribe
    // control, and build the Send API body.
    use optcast_shared::broadcast::{self, BroadcastMessage, LeadSnapshot};
    use optcast_shared::graph::{MessagingType, Recipient, SendRequest};
    use optcast_shared::ids::BroadcastId;
    use optcast_shared::queue::{SendJob, SendTask};
    let id = BroadcastId::parse("0123456789abcdef0123456789abcdef").unwrap();
    let message: BroadcastMessage = serde_json::from_value(serde_json::json!({
        "text": "Spring sale: 20% off everything until Sunday! Reply to ask us anything.",
        "quick_replies": [{"title": "Show me", "payload": "SHOW"}]
    }))
    .unwrap();
    let now = 1_718_000_000_000i64;
    let job = serde_json::to_string(&SendJob::SendV1(SendTask {
        broadcast_id: id.clone(),
        page_id: page.clone(),
        psid: psid.clone(),
        lead: LeadSnapshot {
            platform: meta::Platform::Messenger,
            last_inbound_at_ms: Some(now - 3_600_000),
            marketing: None,
            generation: None,
        },
    }))
    .unwrap();
    let mut g = c.benchmark_group("sender");
    g.throughput(Throughput::Elements(1));
    g.bench_function("parse_route_render_one_send_job", |b| {
        b.iter(|| {
            let SendJob::SendV1(task) = serde_json::from_str::<SendJob>(std::hint::black_box(&job)).unwrap();
            let route = broadcast::route(now, &task.lead, false);
            assert_eq!(route, broadcast::SendRoute::Window);
            let request = SendRequest {
                recipient: Recipient::Id(task.psid),
                messaging_type: Some(MessagingType::Update),
                tag: None,
                message: message.render(&task.broadcast_id),
            };
            serde_json::to_vec(&request.to_json()).unwrap()
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(Duration::from_secs(3)).warm_up_time(Duration::from_secs(1));
    targets = bench
}
criterion_main!(benches);
