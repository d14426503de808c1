#![recursion_limit = "256"]
#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    api::run().await
}
