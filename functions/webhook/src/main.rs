// The hot path allocates per item; mimalloc is cheaper than glibc's malloc
// there (`make bench` measures the webhook-bench with the same allocator).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() -> Result<(), lambda_http::Error> {
    webhook::run().await
}
