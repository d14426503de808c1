//! A headless Debian Chromium driven over WebDriver (its chromedriver), one
//! browser per test with a fresh profile, and the few steps the console
//! tests need. Every wait is a WebDriver condition (an element, or an XPath
//! that states the condition), bounded only so a broken test ends.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::elements::Element;
use fantoccini::{Client, ClientBuilder, Locator};

/// Where the browser and its driver are (Debian's `chromium`, `chromium-driver`).
const CHROMIUM: &str = "/usr/bin/chromium";
const CHROMEDRIVER: &str = "/usr/bin/chromedriver";

/// Only ends a test that would otherwise hang; a slow machine must not fail one.
const WAIT: Duration = Duration::from_secs(180);

/// WebDriver's Enter key.
pub const ENTER: &str = "\u{E007}";
/// WebDriver's Tab key.
pub const TAB: &str = "\u{E004}";

/// Screenshots of each screen: `target/browser-artifacts/<name>.png`.
pub fn artifacts_dir() -> PathBuf {
    let dir = PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target/browser-artifacts"));
    std::fs::create_dir_all(&dir).expect("artifacts folder");
    dir
}

pub struct Browser {
    pub client: Client,
    driver: Child,
    profile: PathBuf,
    base: String,
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

impl Browser {
    /// Starts chromedriver and a headless Chromium with a fresh profile,
    /// whose pages are at `base` (the local stack's address).
    ///
    /// Panics, saying how to install them, when chromium or chromedriver is
    /// missing: the browser suite never passes without a browser.
    pub async fn start(base: &str) -> Browser {
        for bin in [CHROMIUM, CHROMEDRIVER] {
            assert!(
                std::path::Path::new(bin).exists(),
                "{bin} is missing: the console's browser tests need Debian's chromium and chromium-driver; \
                 run infra/browser.sh (apt-get install -y chromium chromium-driver), as `make test` does"
            );
        }
        let port = free_port();
        let driver = Command::new(CHROMEDRIVER)
            .arg(format!("--port={port}"))
            // Dates the console shows and reads (datetime-local) are in UTC.
            .env("TZ", "UTC")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver starts");
        let status = format!("http://127.0.0.1:{port}/status");
        let http = reqwest::Client::new();
        optcast_tests::eventually("chromedriver ready", || async {
            match http.get(&status).send().await {
                Ok(r) => r
                    .json::<serde_json::Value>()
                    .await
                    .is_ok_and(|v| v["value"]["ready"] == true),
                Err(_) => false,
            }
        })
        .await;
        let profile = std::env::temp_dir().join(format!("optcast-chromium-{}-{port}", std::process::id()));
        // The flags that work on these machines (see the env notes): no
        // sandbox as root, and no background networking (the closed network
        // refuses it).
        let args = [
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-extensions",
            "--lang=en-US",
            "--window-size=1280,1000",
            &format!("--user-data-dir={}", profile.display()),
        ];
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            serde_json::json!({"binary": CHROMIUM, "args": args}),
        );
        let client = ClientBuilder::new(hyper_util::client::legacy::connect::HttpConnector::new())
            .capabilities(caps)
            .connect(&format!("http://127.0.0.1:{port}"))
            .await
            .expect("a Chromium session");
        Browser {
            client,
            driver,
            profile,
            base: base.trim_end_matches('/').to_string(),
        }
    }

    pub async fn goto(&self, path: &str) {
        self.client
            .goto(&format!("{}{path}", self.base))
            .await
            .unwrap_or_else(|e| panic!("open {path}: {e}"));
    }

    /// The element `css` names, once it exists.
    pub async fn wait(&self, css: &str) -> Element {
        self.wait_for(Locator::Css(css), css).await
    }

    /// The element the XPath `condition` names, once it exists (a condition
    /// on text or attributes, e.g. `//dd[@data-fact="sent" and .="2"]`).
    pub async fn wait_xpath(&self, condition: &str) -> Element {
        self.wait_for(Locator::XPath(condition), condition).await
    }

    async fn wait_for(&self, locator: Locator<'_>, what: &str) -> Element {
        match self.client.wait().at_most(WAIT).for_element(locator).await {
            Ok(e) => e,
            Err(e) => {
                if let Ok(png) = self.client.screenshot().await {
                    let _ = std::fs::write(artifacts_dir().join("failed-wait.png"), png);
                }
                let text = self.text("body").await;
                panic!("waiting for {what}: {e}\npage text:\n{text}")
            }
        }
    }

    /// Types `text` into the (emptied) field `css`.
    pub async fn fill(&self, css: &str, text: &str) {
        let el = self.wait(css).await;
        el.clear().await.unwrap();
        el.send_keys(text).await.unwrap();
    }

    pub async fn click(&self, css: &str) {
        self.wait(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("click {css}: {e}"));
    }

    /// Presses Enter in the field `css` (a form submits on Enter).
    pub async fn enter(&self, css: &str) {
        self.wait(css).await.send_keys(ENTER).await.unwrap();
    }

    pub async fn text(&self, css: &str) -> String {
        match self.client.find(Locator::Css(css)).await {
            Ok(e) => e.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// Runs `script` in the page; its return value.
    pub async fn script(&self, script: &str) -> serde_json::Value {
        self.client.execute(script, vec![]).await.unwrap_or_default()
    }

    /// Saves the whole page as `target/browser-artifacts/<name>.png` (the
    /// window is made as tall as the page first), after checking that the
    /// screen shows no leaked placeholder (`null`, `undefined`, `NaN`, an
    /// object printed as text).
    pub async fn shot(&self, name: &str) {
        let text = self.text("body").await;
        for leak in ["undefined", "null", "NaN", "[object"] {
            assert!(!text.contains(leak), "screen {name} shows {leak:?}:\n{text}");
        }
        // Keyboard and screen-reader use: every field has a label, every
        // button a name.
        let unlabelled = self
            .script(
                "return [...document.querySelectorAll('input, select, textarea')].filter(e => e.labels.length === 0)\
                   .map(e => e.name).concat([...document.querySelectorAll('button')]\
                   .filter(b => !(b.textContent.trim() || b.getAttribute('aria-label'))).map(() => 'a button'))",
            )
            .await;
        assert_eq!(unlabelled, serde_json::json!([]), "screen {name}: unlabelled controls");
        let height = self
            .script("return document.documentElement.scrollHeight")
            .await
            .as_u64()
            .unwrap_or(1000);
        // The window's height includes the browser's own frame: some room.
        let _ = self
            .client
            .set_window_size(1280, (height + 160).clamp(800, 4000) as u32)
            .await;
        self.script("window.scrollTo(0, 0)").await;
        if let Ok(png) = self.client.screenshot().await {
            let _ = std::fs::write(artifacts_dir().join(format!("{name}.png")), png);
        }
    }

    /// Ends the session, the driver and the profile.
    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
        let _ = std::fs::remove_dir_all(&self.profile);
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        // A panicking test still stops its driver (Chromium goes with it).
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
