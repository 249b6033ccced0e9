//! The bad-input log: one line per rejected frame or connection, with the
//! peer and a stable reason, rate-limited per reason.
//!
//! A hostile or broken client can send millions of bad frames; each reason
//! gets a small burst of lines per window, then only a count, which is
//! logged when the next window opens. Totals per reason are kept for stats.
use std::collections::HashMap;
use std::fmt::Display;
use std::net::SocketAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines per reason per window before suppression starts.
const BURST: u32 = 10;
/// The length of a window.
const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct ReasonState {
    window_start: Instant,
    logged: u32,
    suppressed: u64,
    total: u64,
}

/// Rate-limited reporting of rejected input.
#[derive(Debug, Default)]
pub struct Rejects {
    reasons: Mutex<HashMap<&'static str, ReasonState>>,
}

impl Rejects {
    /// An empty log.
    pub fn new() -> Self {
        Self::default()
    }

    /// Reports one rejection. Signature failures are security alerts.
    pub fn report(&self, peer: SocketAddr, reason: &'static str, detail: &dyn Display) {
        let now = Instant::now();
        let (log, carried) = {
            let mut reasons = self.reasons.lock().unwrap_or_else(|p| p.into_inner());
            let st = reasons.entry(reason).or_insert(ReasonState {
                window_start: now,
                logged: 0,
                suppressed: 0,
                total: 0,
            });
            st.total += 1;
            let mut carried = 0;
            if now.duration_since(st.window_start) >= WINDOW {
                carried = std::mem::take(&mut st.suppressed);
                st.window_start = now;
                st.logged = 0;
            }
            let log = st.logged < BURST;
            if log {
                st.logged += 1;
            } else {
                st.suppressed += 1;
            }
            (log, carried)
        };
        if carried > 0 {
            tracing::warn!(
                reason,
                suppressed = carried,
                "similar rejections were not logged"
            );
        }
        if log {
            if reason == "bad_signature" || reason == "missing_signature" {
                tracing::warn!(alert = "security", peer = %peer, reason, "{detail}");
            } else {
                tracing::warn!(peer = %peer, reason, "{detail}");
            }
        }
    }

    /// How many rejections of `reason` there have been.
    pub fn count(&self, reason: &str) -> u64 {
        let reasons = self.reasons.lock().unwrap_or_else(|p| p.into_inner());
        reasons.get(reason).map_or(0, |s| s.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_rejection_and_logs_a_burst() {
        let r = Rejects::new();
        let peer: SocketAddr = "127.0.0.1:9".parse().unwrap();
        for _ in 0..25 {
            r.report(peer, "invalid_message", &"x");
        }
        assert_eq!(r.count("invalid_message"), 25);
        let reasons = r.reasons.lock().unwrap();
        let st = &reasons["invalid_message"];
        assert_eq!(st.logged, BURST);
        assert_eq!(st.suppressed, 25 - u64::from(BURST));
    }
}
