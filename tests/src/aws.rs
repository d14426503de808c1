//! The test's own look at the emulator: tables, queues, the bucket, the
//! quarantine, and functions invoked through the Invoke API.

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sqs::types::QueueAttributeName;

use crate::{eventually, s, Item, TestApp};

impl TestApp {
    /// Ingest's store over the test's own client (leads, consent log,
    /// messages, events), for tests that take a step of ingest themselves.
    pub fn lead_store(&self) -> optcast_shared::store::Store {
        optcast_shared::store::Store::new(
            self.ddb.clone(),
            optcast_shared::store::Tables {
                subscribers: self.physical("SubscribersTable"),
                consent_log: self.physical("ConsentLogTable"),
                messages: self.physical("MessagesTable"),
                events: self.physical("EventsTable"),
                subject_keys: self.physical("SubjectKeysTable"),
                pages: self.physical("PagesTable"),
                outcomes: None,
            },
        )
    }

    pub async fn scan(&self, logical: &str) -> Vec<Item> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .ddb
                .scan()
                .table_name(self.physical(logical))
                .set_exclusive_start_key(start)
                .consistent_read(true)
                .send()
                .await
                .unwrap();
            items.extend(out.items().iter().cloned());
            match out.last_evaluated_key() {
                Some(k) if !k.is_empty() => start = Some(k.clone()),
                _ => return items,
            }
        }
    }

    /// Messages visible plus in flight on a queue.
    pub async fn queue_depth(&self, logical: &str) -> u64 {
        let out = self
            .sqs
            .get_queue_attributes()
            .queue_url(self.physical(logical))
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessages)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
            .send()
            .await
            .unwrap();
        let attrs = out.attributes().cloned().unwrap_or_default();
        // A missing count is not an empty queue.
        let get = |k: QueueAttributeName| {
            attrs
                .get(&k)
                .and_then(|v| v.parse::<u64>().ok())
                .unwrap_or(u64::MAX / 4)
        };
        get(QueueAttributeName::ApproximateNumberOfMessages)
            + get(QueueAttributeName::ApproximateNumberOfMessagesNotVisible)
    }

    /// Waits until both ingest queues (deliveries and chunks) are empty:
    /// everything consumed, including the chunks a large delivery became.
    pub async fn drain_ingest(&self) {
        self.drain(&["IngestQueue", "IngestChunkQueue"]).await;
    }

    /// Waits until `queues` are empty: nothing waiting, nothing in flight.
    ///
    /// One empty reading is not proof: the emulator computes "visible" and
    /// then "in flight", each against the clock, so a message whose
    /// visibility lapses or is reset (a retried record) between the two is
    /// counted in neither and a queue with work in flight reads 0. Once
    /// visible it stays counted until received, and then in flight for its
    /// whole invocation: three empty readings in a row, 150 ms apart, cannot
    /// all miss it.
    pub async fn drain(&self, queues: &[&str]) {
        let empty = || async {
            for queue in queues {
                if self.queue_depth(queue).await != 0 {
                    return false;
                }
            }
            true
        };
        eventually(&format!("{queues:?} drained"), || async {
            for _ in 0..3 {
                if !empty().await {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(150)).await;
            }
            true
        })
        .await;
    }

    /// Reads (and keeps) everything on the ingest DLQs (deliveries and chunks).
    pub async fn dead_letters(&self) -> Vec<String> {
        let mut bodies = Vec::new();
        for dlq in ["IngestDeadLetterQueue", "IngestChunkDeadLetterQueue"] {
            let out = self
                .sqs
                .receive_message()
                .queue_url(self.physical(dlq))
                .max_number_of_messages(10)
                .visibility_timeout(0)
                .send()
                .await
                .unwrap();
            bodies.extend(out.messages().iter().filter_map(|m| m.body().map(str::to_owned)));
        }
        bodies
    }
}

/// Every DynamoDB table the template declares.
pub const TABLES: [&str; 9] = [
    "SubscribersTable",
    "ConsentLogTable",
    "MessagesTable",
    "EventsTable",
    "PagesTable",
    "BroadcastsTable",
    "DeliveriesTable",
    "SubjectKeysTable",
    "PrivacyTable",
];

/// An EventBridge scheduled event whose `time` is `at_ms`.
pub fn scheduled_event(at_ms: i64) -> serde_json::Value {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    serde_json::json!({"version":"0","id":"e1","detail-type":"Scheduled Event","source":"aws.events",
        "account":"123456789012","time": t,"region":"us-west-2","resources":[],"detail":{}})
}

impl TestApp {
    /// Invokes a function through the Invoke API; its JSON result.
    /// A scheduled invocation of `function` dated `at_ms`, with the stack's
    /// clock moved to that time first (the functions cap an event's time at
    /// their clock, so a run "days later" needs both).
    pub async fn invoke_at(&self, function: &str, at_ms: i64) -> serde_json::Value {
        self.stack.clock.set_now_ms(at_ms);
        self.invoke(function, &scheduled_event(at_ms)).await
    }

    pub async fn invoke(&self, function: &str, event: &serde_json::Value) -> serde_json::Value {
        self.http
            .post(self.url(&format!("/2015-03-31/functions/{function}/invocations")))
            .json(event)
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    /// The eraser's answer to `job` when SQS delivers it again (at least
    /// once): its batch response.
    pub async fn redeliver_erasure(&self, job: &optcast_shared::queue::ErasureJob) -> serde_json::Value {
        let event = serde_json::json!({"Records": [{
            "messageId": "redelivered-1", "receiptHandle": "r", "body": serde_json::to_string(job).unwrap(),
            "attributes": {"ApproximateReceiveCount": "2"}, "messageAttributes": {}, "md5OfBody": "",
            "eventSource": "aws:sqs", "eventSourceARN": "arn:aws:sqs:us-west-2:000000000000:erasure",
            "awsRegion": "us-west-2"}]});
        self.invoke("eraser", &event).await
    }

    /// Every item of every table, as text (to search for traces).
    pub async fn dump_tables(&self) -> String {
        let mut lines = Vec::new();
        for table in TABLES {
            for item in self.scan(table).await {
                let sorted: std::collections::BTreeMap<_, _> = item.into_iter().collect();
                lines.push(format!("{table}: {sorted:?}"));
            }
        }
        lines.sort();
        lines.join("\n")
    }

    /// Every object version and delete marker in the data bucket, with the
    /// content of each version.
    pub async fn dump_bucket(&self) -> (usize, String) {
        let bucket = self.physical("DataBucket");
        let out = self.s3.list_object_versions().bucket(&bucket).send().await.unwrap();
        let mut text = String::new();
        let mut count = 0;
        for v in out.versions() {
            count += 1;
            let key = v.key().unwrap_or_default();
            text.push_str(key);
            let obj = self
                .s3
                .get_object()
                .bucket(&bucket)
                .key(key)
                .set_version_id(v.version_id().map(str::to_string))
                .send()
                .await
                .unwrap();
            let bytes = obj.body.collect().await.unwrap().into_bytes();
            text.push_str(&String::from_utf8_lossy(&bytes));
        }
        for m in out.delete_markers() {
            count += 1;
            text.push_str(m.key().unwrap_or_default());
        }
        (count, text)
    }
}

impl TestApp {
    /// The quarantine in this stack's data bucket.
    pub fn quarantine(&self) -> optcast_shared::quarantine::Quarantine {
        optcast_shared::quarantine::Quarantine {
            s3: self.s3.clone().into(),
            bucket: self.physical("DataBucket"),
        }
    }

    /// Every quarantine record, once there are at least `n`.
    pub async fn wait_quarantined(&self, n: usize) -> Vec<optcast_shared::quarantine::QuarantineRecord> {
        let quarantine = self.quarantine();
        eventually(&format!("{n} quarantined"), || async {
            quarantine.list(None, 1000).await.unwrap().0.len() >= n
        })
        .await;
        quarantine.list(None, 1000).await.unwrap().0
    }

    /// The delivery a quarantine record keeps, opened.
    pub async fn quarantined_body(&self, id: &str) -> Vec<u8> {
        let keys = optcast_shared::crypto::KeyRing::new(self.kms.clone(), self.physical("DataKey"));
        let key = optcast_shared::quarantine::object_key(id);
        optcast_shared::queue::get_sealed(&self.s3, &keys, &self.physical("DataBucket"), &key)
            .await
            .unwrap()
    }
}

impl TestApp {
    /// A lead's stored record (consistent read), if any.
    pub async fn subscriber(&self, page: &str, psid: &str) -> Option<Item> {
        let out = self
            .ddb
            .get_item()
            .table_name(self.physical("SubscribersTable"))
            .key("pk", AttributeValue::S(format!("PAGE#{page}")))
            .key("sk", AttributeValue::S(format!("SUB#{psid}")))
            .consistent_read(true)
            .send()
            .await
            .unwrap();
        out.item().cloned()
    }

    /// Every version and delete marker of the export documents in the data
    /// bucket (`exports/`).
    pub async fn export_versions(&self) -> aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput {
        self.s3
            .list_object_versions()
            .bucket(self.physical("DataBucket"))
            .prefix("exports/")
            .send()
            .await
            .unwrap()
    }

    /// A lead's consent status, or `"none"` when there is no lead.
    pub async fn status(&self, page: &str, psid: &str) -> String {
        self.subscriber(page, psid)
            .await
            .map_or_else(|| "none".to_string(), |i| s(&i, "status"))
    }
}
