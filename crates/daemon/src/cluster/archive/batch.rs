//! An archive consumer's batches: a fetched batch's lines grouped per file
//! and decompressed ([`Consumer::prepare`]), handed to the writers with the
//! progress file's intent ([`Consumer::commit`]), and once written,
//! recorded as done and acknowledged ([`Consumer::finish`]). The next
//! batch is prepared while one is being written, so decompressing overlaps
//! writing; it is committed only after that one is finished, so the
//! progress file never has two batches in it.
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use async_nats::jetstream::{self, AckKind};
use tokio::sync::oneshot;

use super::{Consumer, MAX_MESSAGE_LINES, Restart};
use crate::cluster::MAX_BACKOFF;
use crate::cluster::ingest::{H_APP, H_ENCODING, H_FACILITY, H_HOST, H_RECORDS, lines_of};
use crate::cluster::resume::{Progress, written_prefix};
use crate::config::Facility;
use crate::storage::WriteBatch;
use crate::storage::line::live_path;

/// One file's part of a fetched batch, in delivery order.
struct FileBatch {
    path: PathBuf,
    facility: Arc<Facility>,
    /// Records a killed run was writing when it died (between `written`
    /// and `intent`): only what the file does not end with is written.
    maybe: Vec<u8>,
    maybe_records: u32,
    /// Records never written before: each message's lines as they came
    /// (handed to the writer one message at a time, never concatenated:
    /// copying a whole fetch into one buffer cost more than the write).
    pieces: Vec<(Vec<u8>, u32)>,
}

/// A batch grouped per file, not yet handed to the writers.
pub(super) struct Prepared {
    files: Vec<FileBatch>,
    /// The stream sequence of the last message to write (`written` if
    /// none is new).
    last_seq: u64,
    /// Messages before this index are written; those from it on are held
    /// back (left in the stream).
    take: usize,
    /// Redelivered messages found already written.
    skipped: u64,
    messages: Vec<jetstream::Message>,
}

/// A batch handed to the writers.
pub(super) struct InFlight {
    acks: Vec<oneshot::Receiver<()>>,
    /// Whether the progress file's intent covers it.
    begun: bool,
    records_written: u64,
    skipped: u64,
    take: usize,
    messages: Vec<jetstream::Message>,
}

impl Consumer {
    /// Groups `messages` (in delivery order) per file and decompresses
    /// them; what the last run was writing (between `written` and
    /// `intent`) is kept apart, to be checked against the file's tail.
    pub(super) fn prepare(
        &mut self,
        progress: &Progress,
        messages: Vec<jetstream::Message>,
    ) -> Prepared {
        let facilities = self.target.router.facilities();
        let written = progress.written();
        let intent = progress.intent();
        let mut files: Vec<FileBatch> = Vec::new();
        let mut take = messages.len();
        let mut last_seq = written;
        let mut skipped = 0u64;
        for (i, m) in messages.iter().enumerate() {
            let seq = m.info().map(|i| i.stream_sequence).unwrap_or(0);
            if seq <= written {
                skipped += 1;
                continue;
            }
            let header = |name: &str| {
                m.headers
                    .as_ref()
                    .and_then(|h| h.get(name))
                    .map(|v| v.as_str().to_string())
            };
            let (Some(app), Some(name)) = (header(H_APP), header(H_FACILITY)) else {
                self.warn(
                    "bad_message",
                    &format!("message {seq} on {} has no {H_APP}/{H_FACILITY} headers: left in the stream", m.subject),
                );
                take = i;
                break;
            };
            let Some(facility) = facilities.resolve(&app, &name).cloned() else {
                self.warn(
                    "unknown_app",
                    &format!("app {app:?} is not in this node's facilities.conf: its records wait in the stream (add it and send SIGHUP)"),
                );
                take = i;
                break;
            };
            let host = header(H_HOST).unwrap_or_default();
            let own = facility.file_per_host && !host.is_empty() && self.own_file(&facility, &host);
            let path = live_path(
                &self.target.logdir,
                &facility.app,
                &facility.name,
                own.then_some(host.as_str()),
                self.target.gzip,
            );
            let lines = match lines_of(&m.payload, header(H_ENCODING).as_deref(), MAX_MESSAGE_LINES)
            {
                Ok(lines) => lines,
                Err(e) => {
                    self.warn(
                        "bad_message",
                        &format!("message {seq} on {}: {e}: left in the stream", m.subject),
                    );
                    take = i;
                    break;
                }
            };
            let records = records_of(m);
            let k = match files.iter().position(|f| f.path == path) {
                Some(k) => k,
                None => {
                    files.push(FileBatch {
                        path,
                        facility,
                        maybe: Vec::new(),
                        maybe_records: 0,
                        pieces: Vec::new(),
                    });
                    files.len() - 1
                }
            };
            let f = &mut files[k];
            if seq <= intent {
                f.maybe.extend_from_slice(&lines);
                f.maybe_records += records;
            } else {
                f.pieces.push((lines.into_owned(), records));
            }
            last_seq = seq;
        }
        Prepared {
            files,
            last_seq,
            take,
            skipped,
            messages,
        }
    }

    /// Records the batch's intent in the progress file and hands its lines
    /// to the writers (what a killed run already wrote is left out).
    pub(super) async fn commit(
        &mut self,
        progress: &mut Progress,
        prepared: Prepared,
    ) -> Result<InFlight, Restart> {
        let Prepared {
            files,
            last_seq,
            take,
            skipped,
            messages,
        } = prepared;
        let begun = last_seq > progress.written();
        if begun {
            progress
                .begin(last_seq)
                .map_err(|e| Restart::Failed("progress_file", e.to_string()))?;
        }
        let mut acks: Vec<oneshot::Receiver<()>> = Vec::new();
        let mut records_written = 0u64;
        for FileBatch {
            path,
            facility,
            maybe,
            maybe_records,
            mut pieces,
        } in files
        {
            // The part a killed run was writing: written again only if the
            // file does not already end with it.
            if !maybe.is_empty() {
                let done = written_prefix(&path, &maybe);
                // Records are counted by line here: only the counters and
                // flush_every use the count.
                let done_records =
                    (memchr::memchr_iter(b'\n', &maybe[..done]).count() as u32).min(maybe_records);
                self.stats
                    .redelivered_skipped
                    .fetch_add(u64::from(done_records), Ordering::Relaxed);
                tracing::info!(
                    consumer = %self.durable,
                    file = %path.display(),
                    found_records = done_records,
                    found_bytes = done,
                    of_bytes = maybe.len(),
                    "archive: a batch the last run was writing: what the file already ends with is not written again"
                );
                pieces.insert(0, (maybe[done..].to_vec(), maybe_records - done_records));
            }
            for (data, records) in pieces {
                if data.is_empty() {
                    continue;
                }
                records_written += u64::from(records);
                let (tx, rx) = oneshot::channel();
                let batch = WriteBatch {
                    path: path.clone(),
                    facility: facility.clone(),
                    data,
                    records,
                    ack: Some(tx),
                    wait_for_write: true,
                };
                if self.target.router.storage().write(batch).await.is_err() {
                    return Err(Restart::Stop);
                }
                acks.push(rx);
            }
        }
        Ok(InFlight {
            acks,
            begun,
            records_written,
            skipped,
            take,
            messages,
        })
    }

    /// Waits for the writers, records the batch as done, and acknowledges
    /// its messages (those held back are left in the stream, and the
    /// consumer starts over).
    pub(super) async fn finish(
        &self,
        progress: &mut Progress,
        batch: InFlight,
    ) -> Result<(), Restart> {
        let InFlight {
            acks,
            begun,
            records_written,
            skipped,
            take,
            messages,
        } = batch;
        for ack in acks {
            if ack.await.is_err() {
                return Err(Restart::Stop);
            }
        }
        if begun {
            progress
                .done()
                .map_err(|e| Restart::Failed("progress_file", e.to_string()))?;
        }
        self.stats
            .records_archived
            .fetch_add(records_written, Ordering::Relaxed);
        self.stats
            .redelivered_skipped
            .fetch_add(skipped, Ordering::Relaxed);
        // A lost acknowledgement only means a redelivery, which is skipped.
        for m in &messages[..take] {
            let _ = m.ack().await;
        }
        if take < messages.len() {
            for m in &messages[take..] {
                let _ = m.ack_with(AckKind::Nak(Some(MAX_BACKOFF))).await;
            }
            return Err(Restart::Failed(
                "held_back",
                format!(
                    "{} messages left in the stream for now",
                    messages.len() - take
                ),
            ));
        }
        Ok(())
    }

    /// Whether `host` gets (or has) a file of its own (the first
    /// `max_hosts` hosts of a facility do, as standalone).
    fn own_file(&mut self, facility: &Facility, host: &str) -> bool {
        let seen = self
            .hosts
            .entry((facility.app.clone(), facility.name.clone()))
            .or_default();
        if seen.contains(host) {
            return true;
        }
        if seen.len() < facility.max_hosts as usize {
            seen.insert(host.to_owned());
            return true;
        }
        false
    }
}

/// The record count a message says it holds (one if it does not say).
fn records_of(m: &jetstream::Message) -> u32 {
    m.headers
        .as_ref()
        .and_then(|h| h.get(H_RECORDS))
        .and_then(|v| v.as_str().parse().ok())
        .unwrap_or(1)
}
