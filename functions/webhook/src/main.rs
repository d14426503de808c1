#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    webhook::run().await
}
