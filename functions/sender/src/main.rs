#![recursion_limit = "256"]
#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    sender::run().await
}
