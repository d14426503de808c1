//! The wall time of a preview over the largest page one call reads (a
//! measurement, ignored by default).

use super::{preview, preview_app, register, spring, PAGE};
use optcast_shared::ids::{PageId, Psid};

/// A measurement, not a check (`cargo test -p optcast-tests --test e2e --
/// --ignored --nocapture preview_of_the_largest`): the wall time of one
/// preview call reading the most leads a call reads, against the emulator.
#[tokio::test]
#[ignore]
async fn preview_of_the_largest_page_a_call_reads_whole() {
    use optcast_shared::broadcast::MAX_PREVIEW_LEADS;
    use optcast_shared::store::subscriber_to_item;
    let app = preview_app().await;
    register(&app, PAGE, "EU").await;
    let now = optcast_shared::http::now_ms();
    let page = PageId::parse(PAGE).unwrap();
    let items: Vec<_> = (0..MAX_PREVIEW_LEADS)
        .map(|i| {
            let psid = Psid::parse(format!("2091{i:012}")).unwrap();
            let mut lead = optcast_shared::lead::Subscriber::new(
                page.clone(),
                psid,
                optcast_shared::meta::Platform::Messenger,
                Vec::new(),
                now,
            );
            lead.last_inbound_at_ms = Some(now - (i as i64 % 48) * 60 * 60 * 1000);
            subscriber_to_item(&lead, 1)
        })
        .collect();
    let table = app.physical("SubscribersTable");
    for chunk in items.chunks(25) {
        let writes = chunk
            .iter()
            .map(|item| {
                aws_sdk_dynamodb::types::WriteRequest::builder()
                    .put_request(
                        aws_sdk_dynamodb::types::PutRequest::builder()
                            .set_item(Some(item.clone()))
                            .build()
                            .unwrap(),
                    )
                    .build()
            })
            .collect();
        app.ddb
            .batch_write_item()
            .request_items(&table, writes)
            .send()
            .await
            .unwrap();
    }
    // CPU of this process (the stack runs the api handler in it), in ms.
    let cpu_ms = || {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let fields: Vec<&str> = stat
            .rsplit_once(')')
            .map_or("", |(_, r)| r)
            .split_whitespace()
            .collect();
        let ticks = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok()).unwrap_or(0);
        (ticks(11) + ticks(12)) * 10
    };
    let bytes: usize = items
        .iter()
        .map(|i| i.iter().map(|(k, v)| k.len() + format!("{v:?}").len()).sum::<usize>())
        .sum();
    let (started, cpu) = (std::time::Instant::now(), cpu_ms());
    let (status, out) = preview(&app, "", spring(PAGE)).await;
    let (elapsed, cpu) = (started.elapsed(), cpu_ms() - cpu);
    assert_eq!(status, 200, "{out}");
    assert_eq!(out["leads_read"], MAX_PREVIEW_LEADS);
    println!(
        "preview of {MAX_PREVIEW_LEADS} leads: {} ms wall (emulator included), {cpu} ms CPU in the test \
         process (api handler, proxy, client), ~{} bytes per item (debug text, an upper bound), complete: {}",
        elapsed.as_millis(),
        bytes / items.len(),
        out["complete"]
    );
    app.stack.stop().await;
}
