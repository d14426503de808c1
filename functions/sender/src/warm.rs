//! What one warm sender instance keeps between jobs (broadcast definitions,
//! page tokens, per-page pacing slots), and the tokens a send needs,
//! decrypted: the page's (one KMS Decrypt per page per instance) and the
//! lead's marketing-messages token.

use std::time::{Duration, Instant};

use optcast_shared::broadcast::{self, Broadcast};
use optcast_shared::consent::SubscriberStatus;
use optcast_shared::crypto;
use optcast_shared::ids::{BroadcastId, PageId};
use optcast_shared::queue::SendTask;
use secrecy::SecretString;

use super::{SendError, Sender};

/// How long a warm instance uses a page's settings before reading them
/// again (30 s): a marketer's change of the page's `protection` applies
/// within it (it was 5 minutes). A read is one GetItem and an AES open;
/// the page key's unwrapping stays in the key ring's cache, with no KMS
/// call.
const PAGE_CACHE_TTL: Duration = Duration::from_secs(30);

/// A page's token and what a send needs of the page, kept for
/// [`PAGE_CACHE_TTL`].
pub(crate) struct CachedPage {
    pub(crate) token: SecretString,
    pub(crate) marketing_available: bool,
    pub(crate) retention_days: u32,
    /// When the page's broadcasts pause themselves.
    pub(crate) protection: optcast_shared::outcomes::Protection,
    at: Instant,
}

impl Sender {
    /// A broadcast's definition: from this instance's cache while it was
    /// last seen active, else from the table.
    pub(crate) async fn definition(&self, id: &BroadcastId) -> Result<Option<Broadcast>, SendError> {
        let warm = self
            .definitions
            .lock()
            .expect("definitions")
            .get(id)
            .filter(|b| b.state.is_active())
            .cloned();
        match warm {
            Some(b) => Ok(Some(b)),
            None => Ok(self.store.broadcast(id).await?),
        }
    }

    pub(crate) fn remember(&self, b: Broadcast) {
        let mut cache = self.definitions.lock().expect("definitions");
        // Bounded: a warm instance serves few broadcasts at a time.
        if cache.len() >= 64 && !cache.contains_key(&b.id) {
            cache.clear();
        }
        cache.insert(b.id.clone(), b);
    }

    /// The lead's marketing-messages token, opened; `None` when they have
    /// none, stopped it, or are no longer subscribed (a STOP does not stop
    /// the token itself).
    pub(crate) async fn marketing_token(&self, task: &SendTask) -> Result<Option<String>, SendError> {
        let Some(sub) = self.leads.subscriber(&task.page_id, &task.psid).await? else {
            return Ok(None);
        };
        if sub.status != SubscriberStatus::Subscribed {
            return Ok(None);
        }
        let Some(m) = sub.marketing.filter(|m| !m.stopped) else {
            return Ok(None);
        };
        let key = self
            .keys
            .unwrap_subject(&sub.data_key, &task.page_id, &task.psid)
            .await?;
        let token = crypto::open(
            &key,
            &crypto::field_aad("marketing-token", &task.page_id, &task.psid, ""),
            &m.sealed,
        )?;
        Ok(String::from_utf8(token).ok())
    }

    pub(crate) async fn page(&self, page_id: &PageId) -> Result<std::sync::Arc<CachedPage>, SendError> {
        if let Some(p) = self.pages.lock().expect("page cache").get(page_id) {
            if p.at.elapsed() < PAGE_CACHE_TTL {
                return Ok(p.clone());
            }
        }
        let page = self
            .store
            .page(page_id)
            .await?
            .ok_or_else(|| SendError::UnknownPage(page_id.to_string()))?;
        let key = self
            .keys
            .unwrap(&page.data_key, &crypto::page_key_context(page_id))
            .await?;
        let token = crypto::open(&key, &crypto::page_token_aad(page_id), &page.sealed_token)?;
        let cached = std::sync::Arc::new(CachedPage {
            token: SecretString::from(String::from_utf8(token).map_err(|_| SendError::BadJob("page token".into()))?),
            marketing_available: broadcast::marketing_messages_available(page.region.as_deref()),
            retention_days: page.retention_days,
            protection: page.protection.unwrap_or_default(),
            at: Instant::now(),
        });
        self.pages
            .lock()
            .expect("page cache")
            .insert(page_id.clone(), cached.clone());
        Ok(cached)
    }

    pub(crate) async fn pace(&self, page: &PageId) {
        let wait = {
            let mut slots = self.next_slot.lock().expect("pacer");
            let now = Instant::now();
            let slot = slots.get(page).copied().filter(|s| *s > now).unwrap_or(now);
            slots.insert(page.clone(), slot + self.min_interval);
            slot.saturating_duration_since(now)
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }
}
