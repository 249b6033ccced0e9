//! Replay protection (`replay_protection = yes`): refuses a signed record
//! that was accepted before, whatever the transport, connection or restart.
//!
//! A protected record carries a nonce (random per client session) and an
//! increasing number, both under a signature. Per app and nonce the guard
//! keeps the highest number seen and a bitmap of the `WINDOW` numbers below
//! it, so memory is per nonce, not per record; a record older than the
//! window, or stamped outside `max_clock_skew`, is refused. At most
//! `MAX_NONCES` nonces are kept (under 20 MiB), saved under workdir.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The facility's signing policy beyond v1, for a record whose signature
/// has just been verified: `signature = sha256` refuses HMAC-MD5
/// (`weak_signature`); `replay_protection = yes` refuses a record without
/// the protection fields (`unprotected`), with a bad nonce signature
/// (`bad_signature`), stale or replayed. The error is (reason, detail).
pub fn admit(
    guard: &ReplayGuard,
    facility: &crate::config::Facility,
    secret: &[u8],
    msg: &loghog_proto::Message<'_>,
) -> Result<(), (&'static str, String)> {
    let who = || format!("app {:?} module {:?}", msg.app_id, msg.module);
    if facility.require_sha256 && msg.mac_alg() != Some(loghog_proto::MacAlg::Sha256) {
        return Err((
            "weak_signature",
            format!(
                "HMAC-MD5 signature where signature = sha256 for {}: record dropped",
                who()
            ),
        ));
    }
    if !facility.replay_protection {
        return Ok(());
    }
    let nonce = match msg.verify_nonce(secret) {
        Ok(Some(n)) => n,
        Ok(None) => {
            return Err((
                "unprotected",
                format!(
                    "no replay protection (nonce) where replay_protection = yes for {}: record dropped",
                    who()
                ),
            ));
        }
        Err(e) => {
            return Err((
                e.reason(),
                format!("nonce {e} for {}: record dropped", who()),
            ));
        }
    };
    guard
        .check(&msg.app_id, nonce.nonce, nonce.seq, msg.stamp)
        .map_err(|r| {
            let what = match r {
                Refusal::Replayed => "already accepted (replayed)",
                Refusal::Stale => "stamped outside max_clock_skew",
            };
            (
                r.reason(),
                format!(
                    "record {} #{} {what} for {}: record dropped",
                    nonce.nonce,
                    nonce.seq,
                    who()
                ),
            )
        })
}

/// Numbers below the highest seen that are still told apart, per nonce.
pub const WINDOW: u64 = 1024;
/// Nonces remembered at most.
pub const MAX_NONCES: usize = 65_536;
/// The file under workdir that keeps the guard across restarts.
pub const REPLAY_FILE: &str = "replay";
/// Default `[server] max_clock_skew`.
pub const DEFAULT_MAX_CLOCK_SKEW: Duration = Duration::from_secs(300);

const WORDS: usize = (WINDOW / 64) as usize;

/// Why a protected record was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Accepted before (or older than the window).
    Replayed,
    /// Stamped outside `max_clock_skew` of the daemon's clock.
    Stale,
}

impl Refusal {
    /// The stable reason.
    pub fn reason(self) -> &'static str {
        match self {
            Refusal::Replayed => "replayed",
            Refusal::Stale => "stale",
        }
    }
}

#[derive(Debug, Clone)]
struct Window {
    /// Highest number accepted.
    max: i64,
    /// Bit `i` set: number `max - i` accepted.
    bits: [u64; WORDS],
    /// Unix seconds of the last acceptance.
    seen: i64,
}

impl Window {
    fn new(seq: i64, now: i64) -> Window {
        let mut bits = [0u64; WORDS];
        bits[0] = 1;
        Window {
            max: seq,
            bits,
            seen: now,
        }
    }

    /// Accepts `seq` once; false if it was accepted before or is too old.
    fn accept(&mut self, seq: i64, now: i64) -> bool {
        if seq > self.max {
            let shift = (seq - self.max) as u128;
            shift_up(&mut self.bits, shift);
            self.bits[0] |= 1;
            self.max = seq;
        } else {
            let back = (self.max - seq) as u128;
            if back >= u128::from(WINDOW) {
                return false;
            }
            let (w, b) = ((back / 64) as usize, back % 64);
            if self.bits[w] & (1 << b) != 0 {
                return false;
            }
            self.bits[w] |= 1 << b;
        }
        self.seen = now;
        true
    }
}

/// Moves every bit `by` places towards older numbers.
fn shift_up(bits: &mut [u64; WORDS], by: u128) {
    if by >= u128::from(WINDOW) {
        *bits = [0; WORDS];
        return;
    }
    let (words, rest) = ((by / 64) as usize, (by % 64) as u32);
    for i in (0..WORDS).rev() {
        let lo = i.checked_sub(words).map_or(0, |j| bits[j]);
        let carry = match (i.checked_sub(words + 1), rest) {
            (Some(j), 1..) => bits[j] >> (64 - rest),
            _ => 0,
        };
        bits[i] = if rest == 0 { lo } else { (lo << rest) | carry };
    }
}

/// The replay guard shared by every listener.
pub struct ReplayGuard {
    nonces: Mutex<HashMap<(String, String), Window>>,
    max_skew: Duration,
    max: usize,
    path: Option<PathBuf>,
    dirty: AtomicBool,
    /// Save failures (every tick) and a full table: logged rate-limited.
    notices: crate::ratelimit::RateLimiter,
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

impl ReplayGuard {
    /// An empty guard, kept in `workdir` (None: not saved).
    pub fn new(max_skew: Duration, workdir: Option<&Path>, max: usize) -> ReplayGuard {
        ReplayGuard {
            nonces: Mutex::default(),
            max_skew,
            max: max.max(1),
            path: workdir.map(|d| d.join(REPLAY_FILE)),
            dirty: AtomicBool::new(false),
            notices: crate::ratelimit::RateLimiter::default(),
        }
    }

    /// The guard saved in `workdir` by the last run; unreadable lines are
    /// skipped with a warning.
    pub fn load(max_skew: Duration, workdir: &Path, max: usize) -> ReplayGuard {
        let guard = ReplayGuard::new(max_skew, Some(workdir), max);
        let path = workdir.join(REPLAY_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return guard,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the replay table; records accepted before the restart could be replayed");
                return guard;
            }
        };
        let mut bad = 0usize;
        {
            let mut nonces = guard.lock();
            for line in text.lines() {
                match parse_line(line) {
                    Some((key, w)) if nonces.len() < guard.max => {
                        nonces.insert(key, w);
                    }
                    Some(_) => {}
                    None => bad += 1,
                }
            }
        }
        if bad > 0 {
            tracing::warn!(path = %path.display(), lines = bad, "unreadable lines in the replay table were skipped");
        }
        guard
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<(String, String), Window>> {
        self.nonces.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Accepts a protected record of `app` once: `stamp` (client clock)
    /// within the skew, `(nonce, seq)` not seen before. Call only after its
    /// signatures are verified.
    pub fn check(&self, app: &str, nonce: &str, seq: i64, stamp: i64) -> Result<(), Refusal> {
        let now = unix_now();
        let skew = self.max_skew.as_secs() as i64;
        if stamp.saturating_sub(now).abs() > skew {
            return Err(Refusal::Stale);
        }
        let mut nonces = self.lock();
        let key = (app.to_owned(), nonce.to_owned());
        if let Some(w) = nonces.get_mut(&key) {
            if !w.accept(seq, now) {
                return Err(Refusal::Replayed);
            }
        } else {
            if nonces.len() >= self.max {
                forget(&mut nonces, now, skew, self.max, &self.notices);
            }
            nonces.insert(key, Window::new(seq, now));
        }
        self.dirty.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Nonces remembered.
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    /// Whether no nonce is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Writes the guard to workdir if it changed since the last save.
    pub fn save_if_changed(&self) {
        if self.dirty.swap(false, Ordering::Relaxed)
            && let Err(e) = self.save()
        {
            self.dirty.store(true, Ordering::Relaxed);
            let v = self.notices.check("replay_not_saved");
            if v.log {
                tracing::error!(error = %e, suppressed = v.suppressed, reason = "replay_not_saved", "cannot save the replay table; records accepted before a restart could be replayed after it");
            }
        }
    }

    fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut text = String::new();
        for ((app, nonce), w) in self.lock().iter() {
            let bits: Vec<String> = w.bits.iter().map(|b| format!("{b:016x}")).collect();
            text.push_str(&format!(
                "{app} {nonce} {} {} {}\n",
                w.max,
                w.seen,
                bits.join("")
            ));
        }
        crate::storage::state::replace_file(path, text.as_bytes(), 0o600)
    }
}

fn parse_line(line: &str) -> Option<((String, String), Window)> {
    let mut p = line.split(' ');
    let app = p.next()?.to_owned();
    let nonce = p.next()?.to_owned();
    let max = p.next()?.parse().ok()?;
    let seen = p.next()?.parse().ok()?;
    let hex = p.next()?;
    if hex.len() != WORDS * 16 || p.next().is_some() {
        return None;
    }
    let mut bits = [0u64; WORDS];
    for (i, b) in bits.iter_mut().enumerate() {
        *b = u64::from_str_radix(hex.get(i * 16..i * 16 + 16)?, 16).ok()?;
    }
    Some(((app, nonce), Window { max, bits, seen }))
}

/// Makes room: first every nonce idle for more than twice the skew (a
/// replay of its records would be stale anyway), then, if none is, the
/// least recently used eighth (a replay of theirs within the skew is then
/// no longer recognised: the price of bounded memory).
fn forget(
    nonces: &mut HashMap<(String, String), Window>,
    now: i64,
    skew: i64,
    max: usize,
    notices: &crate::ratelimit::RateLimiter,
) {
    nonces.retain(|_, w| now - w.seen <= 2 * skew);
    if nonces.len() < max {
        return;
    }
    let n = max / 8 + 1;
    let mut by_age: Vec<(i64, (String, String))> =
        nonces.iter().map(|(k, w)| (w.seen, k.clone())).collect();
    by_age.sort_unstable();
    let v = notices.check("replay_table_full");
    if v.log {
        tracing::warn!(
            nonces = nonces.len(),
            suppressed = v.suppressed,
            reason = "replay_table_full",
            "replay table full: forgetting the least recently used nonces"
        );
    }
    for (_, k) in by_age.into_iter().take(n) {
        nonces.remove(&k);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> i64 {
        unix_now()
    }

    #[test]
    fn each_number_is_accepted_once_in_any_order_within_the_window() {
        let g = ReplayGuard::new(DEFAULT_MAX_CLOCK_SKEW, None, 10);
        let t = now();
        for seq in [5, 3, 4, 10, 7, 1000, 999] {
            assert_eq!(g.check("a", "n", seq, t), Ok(()), "{seq}");
        }
        for seq in [5, 3, 4, 10, 7, 1000, 999] {
            assert_eq!(g.check("a", "n", seq, t), Err(Refusal::Replayed), "{seq}");
        }
        // Not seen, still inside the window: accepted once.
        assert_eq!(g.check("a", "n", 6, t), Ok(()));
        // Far behind the highest: refused as a possible replay.
        assert_eq!(g.check("a", "n", 1000 + 2000, t), Ok(()));
        assert_eq!(g.check("a", "n", 1500, t), Err(Refusal::Replayed));
        // Another app or nonce is another space.
        assert_eq!(g.check("b", "n", 5, t), Ok(()));
        assert_eq!(g.check("a", "m", 5, t), Ok(()));
    }

    #[test]
    fn shifts_across_words_keep_the_right_bits() {
        let mut w = Window::new(0, 0);
        assert!(w.accept(70, 0));
        assert!(w.accept(200, 0));
        assert!(!w.accept(70, 0) && !w.accept(0, 0) && !w.accept(200, 0));
        assert!(w.accept(69, 0) && w.accept(1, 0) && w.accept(199, 0));
        assert!(w.accept(200 + 1023, 0));
        assert!(!w.accept(200, 0), "still inside the window, already seen");
        assert!(!w.accept(199, 0), "just outside the window");
    }

    #[test]
    fn records_outside_the_clock_skew_are_stale() {
        let g = ReplayGuard::new(Duration::from_secs(300), None, 10);
        let t = now();
        assert_eq!(g.check("a", "n", 1, t - 301), Err(Refusal::Stale));
        assert_eq!(g.check("a", "n", 1, t + 301), Err(Refusal::Stale));
        assert_eq!(g.check("a", "n", 1, t - 299), Ok(()));
    }

    #[test]
    fn bounded_and_saved_across_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let g = ReplayGuard::new(DEFAULT_MAX_CLOCK_SKEW, Some(dir.path()), 16);
        let t = now();
        for i in 0..100 {
            g.check("a", &format!("n{i}"), 1, t).unwrap();
        }
        assert!(g.len() <= 16, "{}", g.len());
        g.check("a", "kept", 41, t).unwrap();
        g.save_if_changed();
        let back = ReplayGuard::load(DEFAULT_MAX_CLOCK_SKEW, dir.path(), 16);
        assert_eq!(back.len(), g.len());
        assert_eq!(back.check("a", "kept", 41, t), Err(Refusal::Replayed));
        assert_eq!(back.check("a", "kept", 42, t), Ok(()));
    }
}
