//! The v2 session table: for each client session, the sequence number below
//! which its records are written, so a record resent after a reconnect or a
//! restart is written once.
//!
//! One connection holds a session at a time: a newer connection for the same
//! session tells the holder to stop and waits until its round is written.
//! The table is bounded (`MAX_SESSIONS`; the least recently used sessions no
//! connection holds are forgotten) and saved under workdir at shutdown and,
//! when it changed, on the daemon's tick, so a restart keeps it.
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use loghog_proto::v2::{SessionId, parse_session, session_hex};
use tokio::sync::OwnedMutexGuard;
use tokio_util::sync::CancellationToken;

/// Sessions remembered at most (about 120 bytes each: under 8 MiB).
pub const MAX_SESSIONS: usize = 65_536;
/// The file under workdir that keeps the table across restarts.
pub const SESSIONS_FILE: &str = "sessions";

struct Slot {
    /// Held by the connection serving the session.
    lock: Arc<tokio::sync::Mutex<()>>,
    /// Records numbered below this are written.
    written: AtomicU64,
    /// Cancelled to ask the current holder to let go.
    holder: Mutex<CancellationToken>,
    /// Logical time of the last claim, for forgetting the oldest.
    used: AtomicU64,
}

/// Every session the daemon remembers.
pub struct Sessions {
    slots: Mutex<HashMap<SessionId, Arc<Slot>>>,
    clock: AtomicU64,
    dirty: AtomicBool,
    path: Option<PathBuf>,
    max: usize,
    /// Save failures repeat every tick: logged rate-limited.
    errors: crate::ratelimit::RateLimiter,
}

/// A connection's hold on its session; released when dropped.
pub struct Claim {
    slot: Arc<Slot>,
    _guard: OwnedMutexGuard<()>,
    stop: CancellationToken,
    sessions: Arc<Sessions>,
}

impl Claim {
    /// Records numbered below this are written.
    pub fn written(&self) -> u64 {
        self.slot.written.load(Ordering::Acquire)
    }

    /// Records numbered below `upto` are now written (never moves back).
    pub fn set_written(&self, upto: u64) {
        if self.slot.written.fetch_max(upto, Ordering::AcqRel) < upto {
            self.sessions.dirty.store(true, Ordering::Relaxed);
        }
    }

    /// Cancelled when a newer connection claims the session.
    pub fn superseded(&self) -> &CancellationToken {
        &self.stop
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Sessions {
    /// An empty table kept in `workdir` (None: not saved).
    pub fn new(workdir: Option<&Path>, max: usize) -> Arc<Sessions> {
        Arc::new(Sessions {
            slots: Mutex::default(),
            clock: AtomicU64::new(0),
            dirty: AtomicBool::new(false),
            path: workdir.map(|d| d.join(SESSIONS_FILE)),
            max: max.max(1),
            errors: crate::ratelimit::RateLimiter::default(),
        })
    }

    /// The table saved in `workdir` by the last run; an unreadable line is
    /// logged and skipped (the worst it costs is a duplicate).
    pub fn load(workdir: &Path, max: usize) -> Arc<Sessions> {
        let sessions = Sessions::new(Some(workdir), max);
        let path = workdir.join(SESSIONS_FILE);
        let text = match std::fs::read_to_string(&path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return sessions,
            Err(e) => {
                tracing::warn!(path = %path.display(), error = %e, "cannot read the session table; resent records may be written twice");
                return sessions;
            }
        };
        let mut bad = 0usize;
        {
            let mut slots = lock(&sessions.slots);
            for line in text.lines() {
                let mut parts = line.split_whitespace();
                let parsed = parts
                    .next()
                    .and_then(parse_session)
                    .zip(parts.next().and_then(|n| n.parse::<u64>().ok()));
                match parsed {
                    Some((id, written)) if slots.len() < sessions.max => {
                        slots.insert(id, Arc::new(Slot::new(written, 0)));
                    }
                    Some(_) => {}
                    None => bad += 1,
                }
            }
        }
        if bad > 0 {
            tracing::warn!(path = %path.display(), lines = bad, "unreadable lines in the session table were skipped");
        }
        sessions
    }

    /// How many sessions are remembered.
    pub fn len(&self) -> usize {
        lock(&self.slots).len()
    }

    /// Whether no session is remembered.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes `session` for a connection: the current holder (if any) is
    /// told to stop, and this waits until it has finished its round.
    /// None if `cancelled` resolves first (the daemon is stopping).
    pub async fn claim(
        self: &Arc<Self>,
        session: SessionId,
        cancelled: impl Future<Output = ()>,
    ) -> Option<Claim> {
        let now = self.clock.fetch_add(1, Ordering::Relaxed);
        let slot = {
            let mut slots = lock(&self.slots);
            if !slots.contains_key(&session) && slots.len() >= self.max {
                forget_oldest(&mut slots, self.max / 8 + 1);
            }
            slots
                .entry(session)
                .or_insert_with(|| Arc::new(Slot::new(0, now)))
                .clone()
        };
        slot.used.store(now, Ordering::Relaxed);
        let stop = CancellationToken::new();
        std::mem::replace(&mut *lock(&slot.holder), stop.clone()).cancel();
        let guard = tokio::select! {
            g = slot.lock.clone().lock_owned() => g,
            () = cancelled => return None,
        };
        Some(Claim {
            slot,
            _guard: guard,
            stop,
            sessions: self.clone(),
        })
    }

    /// Writes the table to workdir if it changed since the last save.
    pub fn save_if_changed(&self) {
        if self.dirty.swap(false, Ordering::Relaxed)
            && let Err(e) = self.save()
        {
            self.dirty.store(true, Ordering::Relaxed);
            let v = self.errors.check("sessions_not_saved");
            if v.log {
                tracing::error!(error = %e, suppressed = v.suppressed, reason = "sessions_not_saved", "cannot save the session table; resent records may be written twice after a restart");
            }
        }
    }

    fn save(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else {
            return Ok(());
        };
        let mut text = String::new();
        for (id, slot) in lock(&self.slots).iter() {
            text.push_str(&session_hex(id));
            text.push(' ');
            text.push_str(&slot.written.load(Ordering::Acquire).to_string());
            text.push('\n');
        }
        crate::storage::state::replace_file(path, text.as_bytes(), 0o600)
    }
}

impl Slot {
    fn new(written: u64, used: u64) -> Slot {
        Slot {
            lock: Arc::default(),
            written: AtomicU64::new(written),
            holder: Mutex::new(CancellationToken::new()),
            used: AtomicU64::new(used),
        }
    }
}

/// Forgets up to `n` of the least recently claimed sessions that no
/// connection holds (a held slot's `Arc` has a second owner).
fn forget_oldest(slots: &mut HashMap<SessionId, Arc<Slot>>, n: usize) {
    let mut idle: Vec<(u64, SessionId)> = slots
        .iter()
        .filter(|(_, s)| Arc::strong_count(s) == 1)
        .map(|(id, s)| (s.used.load(Ordering::Relaxed), *id))
        .collect();
    idle.sort_unstable();
    for (_, id) in idle.into_iter().take(n) {
        slots.remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
    }

    #[test]
    fn a_newer_claim_stops_the_holder_and_waits_for_it() {
        rt().block_on(async {
            let s = Sessions::new(None, 10);
            let first = s.claim([1; 16], std::future::pending()).await.unwrap();
            first.set_written(5);
            assert!(!first.superseded().is_cancelled());
            let s2 = s.clone();
            let second = tokio::spawn(async move {
                let c = s2.claim([1; 16], std::future::pending()).await.unwrap();
                c.written()
            });
            // The holder is asked to stop, and the newcomer waits for it.
            first.superseded().cancelled().await;
            first.set_written(9);
            drop(first);
            assert_eq!(second.await.unwrap(), 9);
        });
    }

    #[test]
    fn the_table_is_bounded_and_survives_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        rt().block_on(async {
            let s = Sessions::new(Some(dir.path()), 8);
            for i in 0..20u8 {
                let c = s.claim([i; 16], std::future::pending()).await.unwrap();
                c.set_written(u64::from(i) + 100);
            }
            assert!(s.len() <= 8, "{}", s.len());
            s.save_if_changed();
            let back = Sessions::load(dir.path(), 8);
            assert_eq!(back.len(), s.len());
            // The newest session is remembered with its number.
            let c = back.claim([19; 16], std::future::pending()).await.unwrap();
            assert_eq!(c.written(), 119);
        });
    }
}
