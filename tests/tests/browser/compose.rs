//! The dry run of a page with more leads than one check reads: the console
//! counts on from where the last check stopped, to the whole audience.

use optcast_tests::*;
use serde_json::json;

use crate::driver::Browser;
use crate::sign_in;

const PAGE: &str = "1000000000000941";

#[tokio::test]
async fn a_dry_run_of_more_leads_than_one_check_reads_is_counted_on_to_the_whole_audience() {
    let app = spawn_app().await;
    app.register_page(PAGE).await;
    let leads: Vec<String> = (1..=3).map(|i| format!("200000000000941{i}")).collect();
    app.seed_leads(PAGE, &leads).await;

    let browser = Browser::start(&app.url("")).await;
    sign_in(&browser, ADMIN_TOKEN).await;
    // Two leads a check: the page's three take two checks.
    browser.goto(&format!("/console#/compose?page={PAGE}&limit=2")).await;
    browser.fill("#compose textarea[name=text]", "Hello again").await;
    browser.click("#check").await;
    browser.wait_xpath("//strong[@data-fact='audience' and .='2']").await;
    browser
        .wait_xpath("//p[@id='counted-so-far' and contains(., 'first 2 leads')]")
        .await;
    browser.click("#count-more button").await;
    // The second check's lead added to the first's.
    browser.wait_xpath("//strong[@data-fact='audience' and .='3']").await;
    let dry_run = browser.text("#dry-run").await;
    assert!(!dry_run.contains("there are more"), "{dry_run}");
    assert_eq!(
        browser
            .script("return document.querySelector('#count-more') === null")
            .await,
        json!(true),
        "nothing more to count: {dry_run}"
    );
    // What is created is the draft that was checked.
    browser.click("#confirm").await;
    browser.wait("#broadcast").await;
}
