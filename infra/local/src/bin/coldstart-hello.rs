//! The baseline of `coldstart-bench`: the smallest Rust Lambda, built with
//! the same `lambda_runtime`, tokio and release profile as the functions,
//! written as `lambda_runtime`'s own example is (`#[tokio::main]`, a
//! multi-thread runtime; the functions run a current-thread one). It
//! echoes its event.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<serde_json::Value>| async move {
            Ok::<_, lambda_runtime::Error>(event.payload)
        },
    ))
    .await
}
