//! Data-subject rights end to end: erasure (API and Meta's callback) with
//! crypto-shredding, export, and the retention sweep.

mod deletion_callback;
mod erasure;
mod export;
mod sweep;
mod unreachable_purge;

use optcast_tests::*;

const PAGE: &str = "1000000000000001";

async fn erase(app: &TestApp, psid: &str) -> String {
    app.erase(PAGE, psid).await
}
