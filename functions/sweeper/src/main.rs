// One thread: at 256-512 MB Lambda gives a function a fraction of a vCPU,
// and on a multi-thread runtime every AWS call of a cold start paid
// cross-thread wake-ups (README, "Size and cold start").
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    sweeper::run().await
}
