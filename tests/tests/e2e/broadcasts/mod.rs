//! Broadcasts: the management API, the scheduler, the planner and the sender
//! against the emulator and the fake Graph API.

mod api_input;
mod cancel;
mod faults;
mod marketing;
mod meta_errors;
mod scheduling;
mod sending;

use optcast_tests::*;

const PAGE: &str = "1000000000000001";

fn text(t: &str) -> serde_json::Value {
    text_to(PAGE, t)
}
