//! The delivery worker: claim one due item under a lease, deliver it, record the result.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

use super::{Finish, Item, Outbox};

/// `[outbox.worker]`: leases and backoff, in milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WorkerConfig {
    /// How long a claim lasts. A delivery is abandoned (and retried) after half of it, so a
    /// live worker never outlives its lease; a crashed worker's item is free again after it.
    pub lease_ms: u64,
    /// How often an idle worker looks for due items (an enqueue in the same process wakes it
    /// at once).
    pub poll_interval_ms: u64,
    /// The first retry's delay; doubled per attempt, up to `backoff_max_ms`, with jitter.
    pub backoff_base_ms: u64,
    pub backoff_max_ms: u64,
}

impl Default for WorkerConfig {
    fn default() -> Self {
        WorkerConfig {
            lease_ms: 60_000,
            poll_interval_ms: 1_000,
            backoff_base_ms: 1_000,
            backoff_max_ms: 15 * 60_000,
        }
    }
}

/// What the deliver function says about one attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeliveryResult {
    /// NLL has it (201, or 200 with the existing resource for a repeated key).
    Delivered,
    /// NLL unreachable, 5xx, 429: try again later, with backoff.
    RetryLater,
    /// NLL refused it for good (4xx); kept with the reason for an operator. Not logged.
    Rejected(String),
}

/// What a worker did before it stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WorkerStats {
    pub delivered: u64,
    pub retried: u64,
    pub rejected: u64,
    /// Results not recorded because the lease had expired and another worker took the item.
    pub lease_lost: u64,
}

/// The delay before attempt `attempts + 1` after `attempts` failed ones: `base * 2^(attempts-1)`
/// capped at `max`, of which a random half is jitter (the result lies in `[d/2, d]`).
pub fn backoff(attempts: u32, config: &WorkerConfig) -> Duration {
    let exp = attempts.saturating_sub(1).min(32);
    let full = config
        .backoff_base_ms
        .saturating_mul(1u64 << exp)
        .min(config.backoff_max_ms);
    let half = full / 2;
    Duration::from_millis(half + fastrand::u64(0..=full - half))
}

impl Outbox {
    /// Delivers due items until `shutdown` is cancelled; finishes the delivery in hand first.
    ///
    /// `deliver` must send [`Item::key`] to NLL as the dispensation's idempotency identifier:
    /// the outbox delivers at least once. A delivery that panics or takes longer than half the
    /// lease counts as `RetryLater`.
    pub async fn run_worker<F, Fut>(&self, deliver: F, shutdown: CancellationToken) -> WorkerStats
    where
        F: Fn(Item) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = DeliveryResult> + Send + 'static,
    {
        let deliver = Arc::new(deliver);
        let mut stats = WorkerStats::default();
        let idle = Duration::from_millis(self.config.poll_interval_ms.max(1));
        while !shutdown.is_cancelled() {
            match self.deliver_one(deliver.as_ref(), &mut stats).await {
                Ok(true) => continue,
                Ok(false) => {}
                Err(e) => tracing::warn!(error = %e, "outbox worker: store unavailable"),
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = self.wake.notified() => {}
                _ = tokio::time::sleep(idle) => {}
            }
        }
        tracing::info!(
            delivered = stats.delivered,
            retried = stats.retried,
            rejected = stats.rejected,
            lease_lost = stats.lease_lost,
            "outbox worker stopped"
        );
        stats
    }

    /// Claims and delivers one due item; `Ok(false)` when none was due.
    async fn deliver_one<F, Fut>(&self, deliver: &F, stats: &mut WorkerStats) -> super::Result<bool>
    where
        F: Fn(Item) -> Fut,
        Fut: Future<Output = DeliveryResult> + Send + 'static,
    {
        let token = uuid::Uuid::new_v4().to_string();
        let Some(item) = self.claim(&token).await? else {
            return Ok(false);
        };
        let key = item.key.clone();
        let attempts = item.attempts;
        let limit = Duration::from_millis((self.config.lease_ms / 2).max(1));
        let mut task = tokio::spawn(deliver(item));
        let result = match tokio::time::timeout(limit, &mut task).await {
            Ok(Ok(r)) => r,
            Ok(Err(_)) => {
                tracing::warn!(key_ref = %super::log_ref(&key), "outbox: delivery panicked; will retry");
                DeliveryResult::RetryLater
            }
            Err(_) => {
                task.abort();
                tracing::warn!(key_ref = %super::log_ref(&key), "outbox: delivery timed out; will retry");
                DeliveryResult::RetryLater
            }
        };
        let how = match result {
            DeliveryResult::Delivered => {
                stats.delivered += 1;
                tracing::info!(key_ref = %super::log_ref(&key), attempts, "outbox: delivered");
                Finish::Delivered
            }
            DeliveryResult::RetryLater => {
                stats.retried += 1;
                let delay = backoff(attempts, &self.config);
                tracing::info!(key_ref = %super::log_ref(&key), attempts, delay_ms = delay.as_millis() as u64, "outbox: retry later");
                Finish::Retry {
                    delay_ms: i64::try_from(delay.as_millis()).unwrap_or(i64::MAX / 4),
                }
            }
            DeliveryResult::Rejected(reason) => {
                stats.rejected += 1;
                tracing::warn!(key_ref = %super::log_ref(&key), attempts, "outbox: rejected by the receiver; kept for review");
                Finish::Rejected(reason)
            }
        };
        if !self.finish(&key, &token, how).await? {
            stats.lease_lost += 1;
            tracing::warn!(key_ref = %super::log_ref(&key), "outbox: lease lost before the result was recorded");
        }
        Ok(true)
    }
}
