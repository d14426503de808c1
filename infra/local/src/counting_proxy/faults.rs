//! The answers a test scripts in place of the emulator's ([`Faults`]).

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http_body_util::Full;
use tokio::sync::oneshot;

use super::{internal_error, json_answer};

/// Answers the proxy gives in place of the emulator's, as real AWS gives them
/// and moto never does: DynamoDB cancelling a transaction because another
/// transaction holds one of its items, and transient server errors.
#[derive(Clone, Default)]
pub struct Faults(Arc<Mutex<FaultPlan>>);

#[derive(Default)]
struct FaultPlan {
    /// Every n-th `TransactWriteItems` is cancelled for a conflict (0: none).
    conflict_every: u64,
    transactions: u64,
    /// Operation (`dynamodb:BatchGetItem`) → how many requests to let
    /// through first, then how many to answer with 500s.
    fail_next: BTreeMap<String, (u32, u32)>,
    /// Operation (`dynamodb:UpdateItem`) → how many more answers are
    /// `TransactionConflictException`s.
    conflict_next: BTreeMap<String, u32>,
    /// Operation → how many more requests are applied by the emulator but
    /// answered with a 500, as if the answer was lost on the way.
    lose_answer_next: BTreeMap<String, u32>,
    /// Operation (`s3:GetObject`) → how many more answers are 404s.
    gone_next: BTreeMap<String, u32>,
    /// How many more `BatchWriteItem` calls leave every item unprocessed.
    unprocessed_next: u32,
    /// Operation → the next request of it is held until released.
    holds: BTreeMap<String, (oneshot::Sender<()>, oneshot::Receiver<()>)>,
    injected: u64,
}

/// A request held at the proxy before it reaches the emulator
/// ([`Faults::hold_next`]), so a test can act while it is in flight.
pub struct Held {
    arrived: oneshot::Receiver<()>,
    release: oneshot::Sender<()>,
}

impl Held {
    /// Waits until the request is held.
    ///
    /// # Panics
    /// If the proxy is gone before the request came.
    pub async fn arrival(&mut self) {
        (&mut self.arrived).await.expect("the proxy holds the request");
    }
    /// Lets the request go on to the emulator (dropping the hold does too).
    pub fn release(self) {
        let _ = self.release.send(());
    }
}

impl Faults {
    /// Cancels every `n`-th DynamoDB transaction with `TransactionConflict`
    /// (nothing of it applied), as DynamoDB does when another transaction
    /// holds one of its items.
    pub fn conflict_every_nth_transaction(&self, n: u64) {
        self.0.lock().expect("faults").conflict_every = n;
    }
    /// Answers the next `times` requests of `op` with a 500
    /// `InternalServerError` (the SDK retries those: three in a row fail the
    /// call).
    pub fn fail_next(&self, op: &str, times: u32) {
        self.fail_after(op, 0, times);
    }
    /// Like [`Faults::fail_next`], after letting `skip` requests of `op`
    /// through.
    pub fn fail_after(&self, op: &str, skip: u32, times: u32) {
        self.0
            .lock()
            .expect("faults")
            .fail_next
            .insert(op.to_string(), (skip, times));
    }
    /// Answers the next `times` requests of a single-item write `op` with
    /// `TransactionConflictException` (nothing applied), as DynamoDB does
    /// while a transaction holds the item.
    pub fn conflict_next(&self, op: &str, times: u32) {
        self.0
            .lock()
            .expect("faults")
            .conflict_next
            .insert(op.to_string(), times);
    }
    /// Answers the next `times` `BatchWriteItem` calls with every item left
    /// unprocessed (what DynamoDB does to a throttled table).
    pub fn leave_unprocessed_next(&self, times: u32) {
        self.0.lock().expect("faults").unprocessed_next = times;
    }
    /// Answers the next `times` requests of `op` with a 404 and no body, as
    /// S3 answers a HEAD of an object deleted since it was listed.
    pub fn gone_next(&self, op: &str, times: u32) {
        self.0.lock().expect("faults").gone_next.insert(op.to_string(), times);
    }
    /// Lets the emulator apply the next `times` requests of `op` but answers
    /// each with a 500, as when DynamoDB's answer is lost (the SDK retries).
    pub fn lose_answer_next(&self, op: &str, times: u32) {
        self.0
            .lock()
            .expect("faults")
            .lose_answer_next
            .insert(op.to_string(), times);
    }
    /// Holds the next request of `op` before it reaches the emulator, until
    /// the [`Held`] is released or dropped.
    pub fn hold_next(&self, op: &str) -> Held {
        let (arrived_tx, arrived) = oneshot::channel();
        let (release, release_rx) = oneshot::channel();
        self.0
            .lock()
            .expect("faults")
            .holds
            .insert(op.to_string(), (arrived_tx, release_rx));
        Held { arrived, release }
    }
    /// Waits while a request of `op` is held.
    pub(super) async fn hold(&self, op: &str) {
        let held = self.0.lock().expect("faults").holds.remove(op);
        if let Some((arrived, release)) = held {
            let _ = arrived.send(());
            // Released, or the test dropped its hold: either way, on.
            let _ = release.await;
        }
    }
    /// The answer in place of an applied request's, if it is to be lost.
    pub(super) fn lost_answer(&self, op: &str) -> Option<hyper::Response<Full<Bytes>>> {
        let mut plan = self.0.lock().expect("faults");
        if !take_one(&mut plan.lose_answer_next, op) {
            return None;
        }
        plan.injected += 1;
        Some(json_answer(500, &internal_error(op)))
    }
    /// How many answers were injected.
    pub fn injected(&self) -> u64 {
        self.0.lock().expect("faults").injected
    }

    pub(super) fn answer(&self, op: &str, body: &[u8]) -> Option<hyper::Response<Full<Bytes>>> {
        let mut plan = self.0.lock().expect("faults");
        if take_one(&mut plan.gone_next, op) {
            plan.injected += 1;
            let gone = hyper::Response::builder().status(404).body(Full::new(Bytes::new()));
            return Some(gone.expect("static"));
        }
        let failing = match plan.fail_next.get_mut(op) {
            Some((skip, _)) if *skip > 0 => {
                *skip -= 1;
                false
            }
            Some((_, times)) if *times > 0 => {
                *times -= 1;
                true
            }
            _ => false,
        };
        let (status, payload) = if failing {
            (500, internal_error(op))
        } else if take_one(&mut plan.conflict_next, op) {
            (
                400,
                serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#TransactionConflictException",
                    "message": "Transaction is ongoing for the item"}),
            )
        } else if op == "dynamodb:BatchWriteItem" && plan.unprocessed_next > 0 {
            plan.unprocessed_next -= 1;
            let requested = serde_json::from_slice::<serde_json::Value>(body)
                .map(|v| v["RequestItems"].clone())
                .unwrap_or_default();
            (200, serde_json::json!({"UnprocessedItems": requested}))
        } else if op == "dynamodb:TransactWriteItems" && plan.conflict_every > 0 {
            plan.transactions += 1;
            if !plan.transactions.is_multiple_of(plan.conflict_every) {
                return None;
            }
            // One reason per item; the conflict on the last one.
            let items = serde_json::from_slice::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v["TransactItems"].as_array().map(Vec::len))
                .unwrap_or(1)
                .max(1);
            let mut reasons = vec![serde_json::json!({"Code": "None"}); items - 1];
            reasons.push(
                serde_json::json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}),
            );
            let codes = reasons
                .iter()
                .map(|r| r["Code"].as_str().unwrap_or_default())
                .collect::<Vec<_>>();
            (
                400,
                serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
                    "Message": format!("Transaction cancelled, please refer cancellation reasons for specific reasons [{}]", codes.join(", ")),
                    "CancellationReasons": reasons}),
            )
        } else {
            return None;
        };
        plan.injected += 1;
        Some(json_answer(status, &payload))
    }
}

/// Counts one down from `op`'s remaining faults; true if one was left.
fn take_one(remaining: &mut BTreeMap<String, u32>, op: &str) -> bool {
    match remaining.get_mut(op) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}
