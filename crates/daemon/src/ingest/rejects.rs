//! The bad-input log: one line per rejected frame or connection, with the
//! peer and a stable reason, rate-limited per reason.
//!
//! A hostile or broken client can send millions of bad frames; each reason
//! gets a small burst of lines per window (the shared [`RateLimiter`]), then
//! only a count, logged when the next window opens. Totals are kept, and
//! every rejection is counted in `loghogd_rejected_total` by app and reason.
use std::fmt::Display;

use crate::metrics::{Metrics, NO_APP};
use crate::ratelimit::{HeldBack, RateLimiter};

/// What the held-back lines of this log are, for their summary.
const WHAT: &str = "rejections";

/// Rate-limited reporting of rejected input.
#[derive(Debug, Default)]
pub struct Rejects {
    limiter: RateLimiter,
    metrics: Metrics,
}

impl Rejects {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty log that counts in `metrics`.
    pub fn with_metrics(metrics: Metrics) -> Self {
        Rejects {
            limiter: RateLimiter::default(),
            metrics,
        }
    }

    /// The metrics rejections are counted in.
    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    /// Reports one rejection before any app is known (a frame, a
    /// connection). Signature failures are security alerts.
    pub fn report(&self, peer: impl Display, reason: &'static str, detail: &dyn Display) {
        self.report_for(NO_APP, peer, reason, detail);
    }

    /// Reports one rejection of a record for `app` (a configured app, or
    /// [`crate::metrics::UNKNOWN_APP`]).
    pub fn report_for(
        &self,
        app: &str,
        peer: impl Display,
        reason: &'static str,
        detail: &dyn Display,
    ) {
        self.metrics.rejected(app, reason, 1);
        let verdict = self.limiter.check(reason);
        HeldBack {
            reason,
            lines: verdict.suppressed,
            amount: verdict.held,
        }
        .log(WHAT);
        if verdict.log {
            if matches!(
                reason,
                "bad_signature"
                    | "missing_signature"
                    | "weak_signature"
                    | "replayed"
                    | "stale"
                    | "unprotected"
            ) {
                tracing::warn!(alert = "security", peer = %peer, reason, "{detail}");
            } else {
                tracing::warn!(peer = %peer, reason, "{detail}");
            }
        }
    }

    /// Reports `records` accepted records dropped for `reason` (the caller
    /// counts them in the writers' `records_lost`). Like [`Rejects::report`],
    /// but lines held back carry their records, reported with their count.
    pub fn report_loss(
        &self,
        app: &str,
        peer: impl Display,
        reason: &'static str,
        records: u64,
        detail: &dyn Display,
    ) {
        self.metrics.rejected(app, reason, records);
        let verdict = self.limiter.check_amount(reason, records);
        HeldBack {
            reason,
            lines: verdict.suppressed,
            amount: verdict.held,
        }
        .log(WHAT);
        if verdict.log {
            tracing::warn!(peer = %peer, reason, "{detail}");
        }
    }

    /// At shutdown: what the rate limit still holds back, window ended or not.
    pub fn report_held_back(&self) {
        for held in self.limiter.drain() {
            held.log(WHAT);
        }
    }

    /// How many rejections of `reason` there have been.
    pub fn count(&self, reason: &str) -> u64 {
        self.limiter.total(reason)
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use super::*;

    #[test]
    fn counts_every_rejection() {
        let r = Rejects::new();
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        for _ in 0..25 {
            r.report(peer, "invalid_message", &"x");
        }
        assert_eq!(r.count("invalid_message"), 25);
        assert_eq!(r.count("bad_signature"), 0);
    }
}
