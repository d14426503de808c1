//! The marketer's console (`/console`) in a real browser: headless Debian
//! Chromium over WebDriver, against the local stack the end-to-end tests
//! start (real handlers, the emulator, the fake Graph API). Each test signs
//! in as a marketer would and saves a screenshot of every screen it passes
//! to `target/browser-artifacts/`.

mod compose;
mod driver;
mod oidc;
mod pages;

use driver::Browser;
use optcast_tests::*;
use serde_json::json;

const PAGE: &str = "1000000000000901";
const LEAD_PAGE: &str = "1000000000000902";

/// Signs in with `token` by typing it and pressing Enter, and waits until
/// the console shows it is signed in.
pub(crate) async fn sign_in(browser: &Browser, token: &str) {
    browser.goto("/console").await;
    browser.fill("#sign-in input[name=token]", token).await;
    browser.enter("#sign-in input[name=token]").await;
    // Signed in once the navigation shows: its links exist (hidden) before,
    // and a click on one then is "not interactable".
    browser.wait("#nav:not([hidden]) a").await;
}

/// A broadcast's id from the console's address (`#/broadcasts/<id>`).
async fn broadcast_id_in_address(browser: &Browser) -> String {
    let url = browser.client.current_url().await.unwrap();
    url.fragment()
        .and_then(|f| f.strip_prefix("/broadcasts/"))
        .expect("a broadcast's address")
        .to_string()
}

/// `ms` as the value a `datetime-local` field shows in UTC (the browser's zone here).
fn local_minute(ms: i64) -> time::OffsetDateTime {
    time::OffsetDateTime::from_unix_timestamp(ms / 1000).unwrap()
}

#[tokio::test]
async fn a_marketer_connects_a_page_checks_the_audience_schedules_pauses_resumes_and_watches_a_broadcast_to_done() {
    // The sender waits until the test lets it go, so the broadcast is seen sending.
    let mut app = spawn_app_with(|o| o.held_functions.push("sender".into())).await;
    let (in_window, stopped, outside) = ("2000000000009011", "2000000000009012", "2000000000009013");
    let second = "2000000000009014";
    app.seed_leads(PAGE, &[in_window.to_string(), second.to_string(), stopped.to_string()])
        .await;
    app.say(PAGE, stopped, "m_stop_9012", "STOP").await;
    let three_days_ago = optcast_shared::http::now_ms() - 3 * 86_400_000;
    app.say_at(PAGE, outside, "m_old_9013", "hello", three_days_ago).await;

    let browser = Browser::start(&app.url("")).await;
    browser.goto("/console").await;
    browser.wait("#sign-in").await;
    browser.shot("01-sign-in").await;
    sign_in(&browser, ADMIN_TOKEN).await;
    browser.wait("#nav a[href='#/pages']").await;

    // Connect the page: its token, retention and region.
    browser.click("#nav a[href='#/pages']").await;
    browser.fill("#connect-page input[name=page_id]", PAGE).await;
    browser.fill("#connect-page input[name=access_token]", PAGE_TOKEN).await;
    browser.fill("#connect-page input[name=retention_days]", "365").await;
    browser.fill("#connect-page input[name=region]", "us").await;
    browser.click("#connect-page button[type=submit]").await;
    // The page was listed before (its leads wrote in: "not connected");
    // once connected, its row shows the settings.
    browser
        .wait_xpath(&format!("//tr[@data-page='{PAGE}']/td[.='365 days']"))
        .await;
    browser
        .wait_xpath(&format!("//tr[@data-page='{PAGE}']/td[@data-token='set']"))
        .await;
    browser.shot("02-pages").await;

    // Compose, scheduled a few minutes ahead; the dry run before the confirm.
    browser.click("#nav a[href='#/compose']").await;
    browser
        .fill("#compose textarea[name=text]", "Spring sale: 20% off everything today!")
        .await;
    browser.click("#when-later").await;
    let send_at = local_minute(optcast_shared::http::now_ms() + 5 * 60_000);
    // The field is the en-US one: a 12-hour clock with AM/PM (typing "20"
    // as the hour left it 02 and the field invalid after 20:00 UTC).
    let hour12 = match send_at.hour() % 12 {
        0 => 12,
        h => h,
    };
    let meridiem = if send_at.hour() < 12 { "A" } else { "P" };
    browser
        .fill(
            "#send-at",
            &format!(
                "{:02}{:02}{}\t{:02}{:02}{meridiem}",
                u8::from(send_at.month()),
                send_at.day(),
                send_at.year(),
                hour12,
                send_at.minute()
            ),
        )
        .await;
    // The draft's preview shows the Unsubscribe control before any call.
    browser.wait(".phone [data-quick-reply='Unsubscribe']").await;
    browser.click("#check").await;
    browser.wait_xpath("//strong[@data-fact='audience' and .='2']").await;
    browser
        .wait_xpath("//li[@data-excluded='unsubscribed' and starts-with(., '1 ')]")
        .await;
    browser
        .wait_xpath("//li[@data-excluded='outside_window' and starts-with(., '1 ')]")
        .await;
    // The preview is now the message the sender would send, control included.
    browser
        .wait_xpath("//p[@data-preview-text and .='Spring sale: 20% off everything today!']")
        .await;
    browser.wait(".phone [data-quick-reply='Unsubscribe']").await;
    browser.shot("03-compose-preview").await;
    browser.click("#confirm").await;
    browser.wait("#broadcast .state[data-state='scheduled']").await;
    let id = broadcast_id_in_address(&browser).await;
    let created = app.broadcast(&id).await;
    let send_at_ms = created["send_at_ms"].as_i64().expect("scheduled");
    // The field holds minutes: the time typed, to the minute.
    assert_eq!(send_at_ms / 1000, send_at.unix_timestamp() / 60 * 60, "{created}");
    browser.shot("04-broadcast-scheduled").await;

    // Its time comes: the scheduler starts it; the console follows.
    app.invoke_at("scheduler", send_at_ms).await;
    browser.wait("#broadcast .state[data-state='sending']").await;
    browser.click("#pause").await;
    browser.wait("#broadcast .state[data-state='paused']").await;
    browser
        .wait_xpath("//span[@class='reason' and contains(., 'paused through the API')]")
        .await;
    browser.shot("05-broadcast-paused").await;
    browser.click("#resume").await;
    browser.wait("#broadcast .state[data-state='sending']").await;
    app.stack.resume("sender");
    browser.wait("#broadcast .state[data-state='done']").await;
    browser.wait_xpath("//dd[@data-fact='sent' and .='2']").await;
    browser.wait_xpath("//dd[@data-fact='skipped_policy' and .='1']").await;
    // ... and why, by reason (the broadcast's `skipped_by_reason`).
    browser
        .wait_xpath("//dd[@data-fact='skipped_outside_window' and .='1']")
        .await;

    // Meta reports deliveries and reads; the chart and the outcomes follow.
    let now = optcast_shared::http::now_ms();
    let receipts = [in_window, second]
        .iter()
        .flat_map(|p| {
            [
                json!({"sender":{"id":p},"recipient":{"id":PAGE},"timestamp":now,"delivery":{"watermark":now}}),
                json!({"sender":{"id":p},"recipient":{"id":PAGE},"timestamp":now,"read":{"watermark":now}}),
            ]
        })
        .collect();
    app.post_items("page", PAGE, receipts).await;
    browser
        .wait_xpath("//dd[@data-fact='read' and starts-with(., '2 ')]")
        .await;
    browser.wait("#chart .s-read polyline").await;

    // Why wasn't the lead outside the window messaged?
    browser.fill("#why input[name=psid]", outside).await;
    browser.enter("#why input[name=psid]").await;
    let why = browser.wait("[data-recipient-state='skipped_policy']").await;
    assert!(
        why.text().await.unwrap().contains("outside the 24-hour window"),
        "{}",
        why.text().await.unwrap()
    );
    browser.shot("06-broadcast-done").await;

    // The page's broadcasts, filtered by state.
    browser.click("#nav a[href='#/broadcasts']").await;
    browser
        .wait("#filter select[name=state]")
        .await
        .select_by_value("done")
        .await
        .unwrap();
    browser.click("#filter button[type=submit]").await;
    browser
        .wait(&format!("#broadcast-list tr[data-broadcast='{id}']"))
        .await;
    browser.shot("07-broadcasts").await;
    assert_eq!(app.sends_to(in_window), 1);
    assert_eq!(app.sends_to(stopped) + app.sends_to(outside), 0);
    browser.close().await;
}

#[tokio::test]
async fn a_marketer_looks_up_a_lead_changes_its_tags_exports_it_and_erases_it_after_confirming() {
    let app = spawn_app().await;
    let lead = "2000000000009021";
    app.register_page(LEAD_PAGE).await;
    app.say(LEAD_PAGE, lead, "m_hi_9021", "hello").await;

    let browser = Browser::start(&app.url("")).await;
    sign_in(&browser, ADMIN_TOKEN).await;
    browser.click("#nav a[href='#/leads']").await;
    browser.fill("#lookup input[name=page_id]", LEAD_PAGE).await;
    browser.fill("#lookup input[name=psid]", lead).await;
    browser.enter("#lookup input[name=psid]").await;
    browser.wait("#lead-facts [data-status='subscribed']").await;
    browser
        .wait_xpath("//table[@id='history']//td[.='started a conversation']")
        .await;

    // A tag `..` would be resolved away by the address (another route):
    // refused in words, before any call.
    browser.fill("#add-tag input[name=tag]", "..").await;
    browser.enter("#add-tag input[name=tag]").await;
    browser
        .wait_xpath("//form[@id='add-tag']//p[contains(@class,'error') and contains(., 'is not an id or a tag')]")
        .await;
    // Tags: added with Enter, removed with its button.
    browser.fill("#add-tag input[name=tag]", "vip").await;
    browser.enter("#add-tag input[name=tag]").await;
    browser.wait("#tags li[data-tag='vip']").await;
    browser.shot("08-lead").await;
    let tags = |item: Option<Item>| {
        item.and_then(|i| i.get("tags").cloned())
            .map(|t| format!("{t:?}"))
            .unwrap_or_default()
    };
    assert!(tags(app.subscriber(LEAD_PAGE, lead).await).contains("vip"));
    browser.click("#tags li[data-tag='vip'] button").await;
    browser.wait_xpath("//section[h3[@id='tags-h']]/p[.='No tags.']").await;
    assert!(!tags(app.subscriber(LEAD_PAGE, lead).await).contains("vip"));

    // Export: a download of the lead's data.
    browser.click("#export").await;
    let link = browser.wait("#export-link").await;
    assert!(link
        .attr("href")
        .await
        .unwrap()
        .unwrap_or_default()
        .starts_with("blob:"));

    // Erase: nothing happens before the confirmation.
    browser.click("#erase").await;
    browser.wait("#erase-confirm:not([hidden])").await;
    browser.shot("09-erase-confirm").await;
    assert_eq!(app.status(LEAD_PAGE, lead).await, "subscribed");
    browser.click("#erase-yes").await;
    browser.wait("[data-erasure='completed']").await;
    browser.wait("#lead-facts [data-status='erased']").await;
    browser.shot("10-erased").await;
    assert_eq!(app.status(LEAD_PAGE, lead).await, "none");
    browser.close().await;
}

#[tokio::test]
async fn a_wrong_token_is_refused_in_words_and_signing_out_forgets_the_token() {
    let app = spawn_app().await;
    // The console itself is public, with its strict policy; the API is not.
    let page = app.http.get(app.url("/console")).send().await.unwrap();
    assert_eq!(page.status(), 200);
    assert_eq!(
        page.headers()["content-security-policy"].to_str().unwrap(),
        api::CONTENT_SECURITY_POLICY
    );
    assert_eq!(
        app.http.get(app.url("/v1/broadcasts")).send().await.unwrap().status(),
        401
    );

    let browser = Browser::start(&app.url("")).await;
    // By keyboard: type, Tab to the button (its focus is visible), Enter.
    browser.goto("/console").await;
    browser.fill("#sign-in input[name=token]", "not-the-token").await;
    browser
        .wait("#sign-in input[name=token]")
        .await
        .send_keys(driver::TAB)
        .await
        .unwrap();
    let focused = browser
        .script("const e = document.activeElement; return [e.textContent, getComputedStyle(e).outlineStyle]")
        .await;
    assert_eq!(focused, json!(["Sign in", "solid"]));
    browser
        .client
        .active_element()
        .await
        .unwrap()
        .send_keys(driver::ENTER)
        .await
        .unwrap();
    let error = browser.wait("#sign-in .error").await.text().await.unwrap();
    assert!(error.starts_with("Your token was not accepted."), "{error}");
    assert!(!error.contains('{'), "{error}");
    browser.shot("00-sign-in-refused").await;
    assert_eq!(
        browser.script("return sessionStorage.getItem('optcast.token')").await,
        json!(null)
    );

    sign_in(&browser, ADMIN_TOKEN).await;
    browser.wait("#nav a[href='#/pages']").await;
    assert_eq!(
        browser.script("return sessionStorage.getItem('optcast.token')").await,
        json!(ADMIN_TOKEN)
    );
    // An API error on a screen, in words: a page id the API refuses.
    browser.click("#nav a[href='#/leads']").await;
    browser.fill("#lookup input[name=page_id]", PAGE).await;
    browser.fill("#lookup input[name=psid]", "2000000000009031").await;
    browser.enter("#lookup input[name=psid]").await;
    let error = browser.wait("#lookup .error").await.text().await.unwrap();
    assert!(error.starts_with("Not found:"), "{error}");

    browser.click("#sign-out").await;
    browser.wait("#sign-in").await;
    assert_eq!(
        browser.script("return sessionStorage.getItem('optcast.token')").await,
        json!(null)
    );
    browser.close().await;
}
