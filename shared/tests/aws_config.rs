//! Where `config::aws()` finds the region and the credentials. In Lambda
//! both are in the environment and are taken from there without building
//! the SDK's default chains (issue 15: their STS and instance-metadata
//! clients were a tenth of a cold start); anywhere else the default chains
//! still apply (here: a profile file, as on a developer's machine). One
//! test, in its own binary, because it changes the process's environment.

use aws_sdk_dynamodb::config::ProvideCredentials;

const LAMBDA_VARS: [&str; 5] = [
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

#[tokio::test]
async fn the_region_and_credentials_come_from_lambdas_environment_and_otherwise_from_the_default_chains() {
    // As Lambda sets them.
    for (name, value) in [
        ("AWS_REGION", "eu-central-1"),
        ("AWS_DEFAULT_REGION", "eu-central-1"),
        ("AWS_ACCESS_KEY_ID", "ASIAEXAMPLELAMBDA"),
        ("AWS_SECRET_ACCESS_KEY", "lambda-secret"),
        ("AWS_SESSION_TOKEN", "lambda-session"),
    ] {
        std::env::set_var(name, value);
    }
    let aws = optcast_shared::config::aws().await;
    assert_eq!(aws.region().map(|r| r.as_ref()), Some("eu-central-1"));
    let creds = aws
        .credentials_provider()
        .expect("a credentials provider")
        .provide_credentials()
        .await
        .expect("credentials");
    assert_eq!(creds.access_key_id(), "ASIAEXAMPLELAMBDA");
    assert_eq!(creds.secret_access_key(), "lambda-secret");
    assert_eq!(creds.session_token(), Some("lambda-session"));

    // A developer's machine: nothing in the environment but a profile.
    for name in LAMBDA_VARS {
        std::env::remove_var(name);
    }
    let dir = std::env::temp_dir().join(format!("optcast-aws-config-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config"), "[default]\nregion = ap-southeast-2\n").unwrap();
    std::fs::write(
        dir.join("credentials"),
        "[default]\naws_access_key_id = AKIAEXAMPLEPROFILE\naws_secret_access_key = profile-secret\n",
    )
    .unwrap();
    std::env::set_var("AWS_CONFIG_FILE", dir.join("config"));
    std::env::set_var("AWS_SHARED_CREDENTIALS_FILE", dir.join("credentials"));
    std::env::remove_var("AWS_PROFILE");
    let aws = optcast_shared::config::aws().await;
    assert_eq!(aws.region().map(|r| r.as_ref()), Some("ap-southeast-2"));
    let creds = aws
        .credentials_provider()
        .expect("a credentials provider")
        .provide_credentials()
        .await
        .expect("credentials from the profile");
    assert_eq!(creds.access_key_id(), "AKIAEXAMPLEPROFILE");
    std::fs::remove_dir_all(&dir).unwrap();
}
