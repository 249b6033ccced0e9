//! Rate limiting of repeated internal log lines, keyed by a stable reason.
//!
//! Each reason gets a burst of lines per window, then only a count; the
//! count of what was held back rides on the next line logged for that reason
//! (or is reported by [`RateLimiter::expired`] on a timer), so a storm of
//! errors costs a few lines a minute and never loses the fact that it
//! happened. Shared by the bad-input log and the storage error paths.
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Lines per reason per window before suppression starts.
pub const BURST: u32 = 10;
/// The length of a window.
pub const WINDOW: Duration = Duration::from_secs(60);

#[derive(Debug)]
struct KeyState {
    window_start: Instant,
    logged: u32,
    suppressed: u64,
    /// The amounts (for example records lost) of the occurrences held back.
    held: u64,
    total: u64,
}

/// Whether one occurrence may be logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verdict {
    /// Log this occurrence.
    pub log: bool,
    /// Occurrences held back in the window that just ended: to be reported
    /// now, with this line or on a line of its own.
    pub suppressed: u64,
    /// The amounts those held-back occurrences carried (see
    /// [`RateLimiter::check_amount`]); 0 for plain [`RateLimiter::check`].
    pub held: u64,
}

/// What a window that ended quietly held back for one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HeldBack {
    /// The reason.
    pub reason: &'static str,
    /// Lines not logged.
    pub lines: u64,
    /// The amounts they carried (records lost, for loss reasons).
    pub amount: u64,
}

impl HeldBack {
    /// Logs what was held back: for losses (an amount) the records dropped,
    /// otherwise how many `what` lines ("storage errors", "rejections") were
    /// not logged. Nothing when nothing was held back.
    pub fn log(&self, what: &str) {
        let HeldBack {
            reason,
            lines,
            amount,
        } = *self;
        if lines == 0 {
            return;
        }
        if amount > 0 {
            tracing::error!(
                reason,
                suppressed = lines,
                records = amount,
                "{amount} more records dropped in {lines} lines not logged"
            );
        } else {
            tracing::warn!(reason, suppressed = lines, "similar {what} were not logged");
        }
    }
}

/// Counts occurrences per reason and decides which ones are logged.
#[derive(Debug)]
pub struct RateLimiter {
    burst: u32,
    window: Duration,
    keys: Mutex<HashMap<&'static str, KeyState>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter::new(BURST, WINDOW)
    }
}

impl RateLimiter {
    /// `burst` lines per `window` per reason.
    pub fn new(burst: u32, window: Duration) -> Self {
        RateLimiter {
            burst,
            window,
            keys: Mutex::default(),
        }
    }

    /// Records one occurrence of `reason` and says whether to log it.
    pub fn check(&self, reason: &'static str) -> Verdict {
        self.check_amount(reason, 0)
    }

    /// Like [`RateLimiter::check`] for an occurrence that carries an amount
    /// (records lost): the amounts of held-back occurrences are summed and
    /// reported with the counts, so a loss is never only "N lines".
    pub fn check_amount(&self, reason: &'static str, amount: u64) -> Verdict {
        let now = Instant::now();
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let st = keys.entry(reason).or_insert(KeyState {
            window_start: now,
            logged: 0,
            suppressed: 0,
            held: 0,
            total: 0,
        });
        st.total += 1;
        let (mut carried, mut carried_held) = (0, 0);
        if now.duration_since(st.window_start) >= self.window {
            carried = std::mem::take(&mut st.suppressed);
            carried_held = std::mem::take(&mut st.held);
            st.window_start = now;
            st.logged = 0;
        }
        let log = st.logged < self.burst;
        if log {
            st.logged += 1;
        } else {
            st.suppressed += 1;
            st.held += amount;
        }
        Verdict {
            log,
            suppressed: carried,
            held: carried_held,
        }
    }

    /// Reasons whose window has ended with occurrences held back, and how
    /// many; their counts are reset. Call it on a timer so a storm that
    /// stops is still reported.
    pub fn expired(&self) -> Vec<HeldBack> {
        self.take_held(false)
    }

    /// Everything held back, whether or not its window has ended: for a
    /// last report at shutdown.
    pub fn drain(&self) -> Vec<HeldBack> {
        self.take_held(true)
    }

    fn take_held(&self, all: bool) -> Vec<HeldBack> {
        let now = Instant::now();
        let mut keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        let mut out = Vec::new();
        for (reason, st) in keys.iter_mut() {
            if st.suppressed > 0 && (all || now.duration_since(st.window_start) >= self.window) {
                out.push(HeldBack {
                    reason,
                    lines: std::mem::take(&mut st.suppressed),
                    amount: std::mem::take(&mut st.held),
                });
                st.window_start = now;
                st.logged = 0;
            }
        }
        out
    }

    /// How many occurrences of `reason` there have been.
    pub fn total(&self, reason: &str) -> u64 {
        let keys = self.keys.lock().unwrap_or_else(|p| p.into_inner());
        keys.get(reason).map_or(0, |s| s.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_is_logged_then_counted_and_the_count_is_carried() {
        let r = RateLimiter::new(3, Duration::ZERO);
        // A zero window ends at every call: each one logs and carries
        // nothing, since nothing was held back.
        assert!((0..5).all(|_| r.check("a")
            == Verdict {
                log: true,
                suppressed: 0,
                held: 0
            }));

        let r = RateLimiter::new(3, Duration::from_secs(3600));
        let logged = (0..25).filter(|_| r.check("a").log).count();
        assert_eq!(logged, 3);
        assert_eq!(r.total("a"), 25);
        assert!(r.expired().is_empty(), "the window has not ended");
        assert!(r.check("b").log, "reasons are limited separately");
    }

    #[test]
    fn expired_reports_what_was_held_back_once() {
        // No line allowed, and a window that has always ended.
        let r = RateLimiter::new(0, Duration::ZERO);
        assert_eq!(
            r.check("a"),
            Verdict {
                log: false,
                suppressed: 0,
                held: 0
            }
        );
        let held = r.expired();
        assert_eq!((held[0].reason, held[0].lines), ("a", 1));
        assert!(r.expired().is_empty());
    }

    #[test]
    fn amounts_held_back_are_summed_and_drained() {
        // One line an hour: the rest is held back with its amounts.
        let r = RateLimiter::new(1, Duration::from_secs(3600));
        assert!(r.check_amount("lost", 5).log);
        assert!(!r.check_amount("lost", 7).log);
        assert!(!r.check_amount("lost", 30).log);
        assert!(r.expired().is_empty(), "the window has not ended");
        assert_eq!(
            r.drain(),
            [HeldBack {
                reason: "lost",
                lines: 2,
                amount: 37
            }]
        );
        assert!(r.drain().is_empty());
    }
}
