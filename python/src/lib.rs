//! `loghog._native`: the Rust sender behind `loghog.LoghogHandler`.
//!
//! A [`Sender`] wraps one `loghog_client::Client` (encoding, bounded queue,
//! background thread). The one design choice that matters is fork safety:
//! the sender remembers the fork generation (see `fork.rs`) that started
//! its client, and in a forked child it leaks the inherited client untouched
//! (its thread did not survive the fork and its lock may be held forever)
//! and starts a new one.
mod fork;

use std::path::PathBuf;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use loghog_client::{Client, ClientBuilder, ClientError, MacAlg, Transport, tls_config};
use pyo3::exceptions::{PyRuntimeError, PyValueError};
use pyo3::prelude::*;
use pyo3::pybacked::PyBackedStr;
use pyo3::types::{PyBytes, PyString};

/// Longest wait when a sender is garbage-collected without `close`: the
/// GIL is held then, so it must stay short.
const DROP_TIMEOUT: Duration = Duration::from_millis(500);

/// The client in use and the process it belongs to.
struct Live {
    /// `fork::generation()` when the client was started.
    generation: u64,
    /// Always `Some` until the sender is dropped.
    client: Option<Arc<Client>>,
    /// `close` was called: a client started after a fork is closed too.
    closed: bool,
}

/// Queues log records for a LogHog server and delivers them from a
/// background thread that never calls into Python.
#[pyclass(frozen, module = "loghog._native")]
struct Sender {
    /// Everything needed to start a client again in a forked child.
    builder: ClientBuilder,
    /// The TLS files, re-read in a child (as the 0.7 client read them on
    /// every connect); the parent's loaded configuration is the fallback.
    tls_files: Option<(PathBuf, PathBuf)>,
    live: Mutex<Live>,
}

#[pymethods]
impl Sender {
    /// Starts the background sender. Does not connect: the first record
    /// does. Raises ValueError when the TLS files cannot be used.
    #[new]
    #[pyo3(signature = (app_name, host, port, stream, secret, compression, hostname, pemfile, cacert, max_buffer_size, print_debug, ack=false, signature="md5", replay_protection=false))]
    #[allow(clippy::too_many_arguments)]
    fn new(
        app_name: String,
        host: String,
        port: u16,
        stream: bool,
        secret: Option<Vec<u8>>,
        compression: bool,
        hostname: Option<String>,
        pemfile: Option<PathBuf>,
        cacert: Option<PathBuf>,
        max_buffer_size: usize,
        print_debug: bool,
        ack: bool,
        signature: &str,
        replay_protection: bool,
    ) -> PyResult<Self> {
        if ack && !stream {
            return Err(PyValueError::new_err(
                "ack=True needs stream=True (UDP has no acknowledgements)",
            ));
        }
        let mut builder = Client::builder(app_name)
            .ack(ack)
            .signature(mac_alg(signature)?)
            .replay_protection(replay_protection)
            .host(host)
            .port(port)
            .transport(if stream {
                Transport::Stream
            } else {
                Transport::Datagram
            })
            .compression(compression)
            .max_buffer_size(max_buffer_size)
            .print_debug(print_debug)
            .drop_timeout(DROP_TIMEOUT);
        if let Some(secret) = secret {
            builder = builder.secret(secret);
        }
        if let Some(hostname) = hostname {
            builder = builder.hostname(hostname);
        }
        let tls_files = match (pemfile, cacert) {
            (Some(pem), Some(ca)) => Some((pem, ca)),
            (None, None) => None,
            _ => {
                return Err(PyValueError::new_err(
                    "ssl_info needs both 'pemfile' and 'cacert'",
                ));
            }
        };
        if let Some((pem, ca)) = &tls_files {
            builder = builder.tls_config(tls_config(pem, ca).map_err(build_error)?);
        }
        let client = builder.clone().build().map_err(build_error)?;
        Ok(Sender {
            builder,
            tls_files,
            live: Mutex::new(Live {
                generation: fork::generation(),
                client: Some(Arc::new(client)),
                closed: false,
            }),
        })
    }

    /// Queues one record created at `created` (seconds since the epoch, as
    /// `LogRecord.created`). Never waits on the network: when the buffer is
    /// full the oldest record is dropped and counted.
    fn send(
        &self,
        module: &Bound<'_, PyAny>,
        body: &Bound<'_, PyAny>,
        created: f64,
    ) -> PyResult<()> {
        let (stamp, nsecs) = split_created(created);
        let module = text(module)?;
        let body = text(body)?;
        // The GIL stays held: the queue lock is only ever held for memory
        // copies (never across I/O), and releasing the GIL per record would
        // cost more than the whole send.
        let live = self.live_here()?;
        if let Some(client) = &live.client {
            client.send_at(&module, &body, stamp, nsecs);
        }
        Ok(())
    }

    /// Waits, without the GIL, until everything queued so far is written to
    /// the socket, at most `timeout` seconds. True if it all went.
    fn flush(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let client = self.client()?;
        let timeout = seconds(timeout)?;
        Ok(py.detach(move || client.flush(timeout)).is_ok())
    }

    /// Delivers what is queued within `timeout` seconds (without the GIL),
    /// then stops the sender; records sent afterwards are dropped and
    /// counted. True if everything was delivered.
    fn close(&self, py: Python<'_>, timeout: f64) -> PyResult<bool> {
        let timeout = seconds(timeout)?;
        let client = {
            let mut live = self.lock_live()?;
            live.closed = true;
            live.client.clone()
        };
        let Some(client) = client else {
            return Ok(true);
        };
        Ok(match py.detach(move || client.close(timeout)) {
            Ok(()) | Err(ClientError::Closed) => true,
            Err(_) => false,
        })
    }

    /// Queues frames encoded elsewhere (`encode_frame`'s bytes; several may
    /// follow each other), each as one record. Raises ValueError, queueing
    /// nothing, unless the bytes are whole frames. Returns how many were
    /// queued. Never waits on the network.
    fn send_frames(&self, frames: &[u8]) -> PyResult<usize> {
        let live = self.live_here()?;
        match &live.client {
            Some(client) => client
                .send_frames(frames)
                .map_err(|e| PyValueError::new_err(e.to_string())),
            None => Ok(0),
        }
    }

    /// Copies of the frames queued and not yet handed to the socket, oldest
    /// first.
    fn queued_frames<'py>(&self, py: Python<'py>) -> PyResult<Vec<Bound<'py, PyBytes>>> {
        let frames = self.client()?.queued_frames();
        Ok(frames.iter().map(|f| PyBytes::new(py, f)).collect())
    }

    /// Starts a fresh sender if this is a forked child (called from
    /// `os.register_at_fork`; `send` checks too, for forks made by C code).
    fn after_fork(&self) -> PyResult<()> {
        self.client().map(drop)
    }

    /// Records dropped by this process's sender: pushed out of a full
    /// buffer, or sent after `close`.
    #[getter]
    fn dropped(&self) -> PyResult<u64> {
        Ok(self.client()?.dropped())
    }

    /// Records written to a socket by this process's sender (with
    /// `ack`, acknowledged by the server as written).
    #[getter]
    fn delivered(&self) -> PyResult<u64> {
        Ok(self.client()?.delivered())
    }

    /// With `ack`: records the server refused, and its last reason.
    #[getter]
    fn rejected(&self) -> PyResult<(u64, Option<String>)> {
        Ok(self.client()?.rejected())
    }

    /// Records queued or being written.
    #[getter]
    fn pending(&self) -> PyResult<u64> {
        Ok(self.client()?.pending())
    }

    /// The last connection or write error, if any.
    #[getter]
    fn last_error(&self) -> PyResult<Option<String>> {
        Ok(self.client()?.last_error())
    }

    /// `host:port` the sender delivers to.
    #[getter]
    fn address(&self) -> PyResult<String> {
        Ok(self.client()?.endpoint().display_addr())
    }
}

impl Sender {
    /// The state, with a client of this process's own (started anew after
    /// a fork).
    fn live_here(&self) -> PyResult<MutexGuard<'_, Live>> {
        let mut live = self.lock_live()?;
        let generation = fork::generation();
        if live.generation != generation {
            self.restart(&mut live, generation)?;
        }
        Ok(live)
    }

    /// The client of this process, started anew after a fork.
    fn client(&self) -> PyResult<Arc<Client>> {
        self.live_here()?
            .client
            .clone()
            .ok_or_else(|| PyRuntimeError::new_err("loghog sender is gone"))
    }

    fn lock_live(&self) -> PyResult<MutexGuard<'_, Live>> {
        // Only ever taken with the GIL held and released before anything
        // detaches from it, so no other thread can hold it across a fork.
        self.live
            .lock()
            .map_err(|_| PyRuntimeError::new_err("loghog sender state is poisoned"))
    }

    fn restart(&self, live: &mut Live, generation: u64) -> PyResult<()> {
        let mut builder = self.builder.clone();
        if let Some((pem, ca)) = &self.tls_files {
            if let Ok(config) = tls_config(pem, ca) {
                builder = builder.tls_config(config);
            }
        }
        let client = Arc::new(builder.build().map_err(build_error)?);
        if live.closed {
            let _ = client.close(Duration::ZERO);
        }
        let inherited = live.client.replace(client);
        // Never touch the parent's client here: no thread will ever release
        // its lock or answer its close.
        std::mem::forget(inherited);
        live.generation = generation;
        Ok(())
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        let live = match self.live.get_mut() {
            Ok(live) => live,
            Err(poisoned) => poisoned.into_inner(),
        };
        if live.generation != fork::generation() {
            // Inherited across a fork: see `restart`.
            std::mem::forget(live.client.take());
        }
    }
}

/// The frame a sender with these options queues for one record: the same
/// encoder (`loghog_client::FrameEncoder`), so the bytes are defined once.
#[pyfunction]
#[pyo3(signature = (app_name, hostname, secret, compression, module, body, created, signature="md5"))]
#[allow(clippy::too_many_arguments)]
fn encode_frame<'py>(
    py: Python<'py>,
    app_name: String,
    hostname: Option<String>,
    secret: Option<Vec<u8>>,
    compression: bool,
    module: &Bound<'py, PyAny>,
    body: &Bound<'py, PyAny>,
    created: f64,
    signature: &str,
) -> PyResult<Bound<'py, PyBytes>> {
    let mut builder = Client::builder(app_name)
        .compression(compression)
        .signature(mac_alg(signature)?);
    if let Some(secret) = secret {
        builder = builder.secret(secret);
    }
    if let Some(hostname) = hostname {
        builder = builder.hostname(hostname);
    }
    let (stamp, nsecs) = split_created(created);
    let mut frame = Vec::new();
    builder
        .frame_encoder()
        .encode(&text(module)?, &text(body)?, stamp, nsecs, &mut frame);
    Ok(PyBytes::new(py, &frame))
}

/// A Python string's UTF-8 text: borrowed from Python when it encodes
/// cleanly, else a lossy copy.
enum Text {
    Backed(PyBackedStr),
    Lossy(String),
}

impl std::ops::Deref for Text {
    type Target = str;

    fn deref(&self) -> &str {
        match self {
            Text::Backed(s) => s,
            Text::Lossy(s) => s,
        }
    }
}

/// A value as UTF-8 text (`str()` of anything that is not a string, such
/// as a `None` logger name); lone surrogates (from `surrogateescape`
/// decoding) become U+FFFD rather than losing the record.
fn text(value: &Bound<'_, PyAny>) -> PyResult<Text> {
    let s = match value.cast::<PyString>() {
        Ok(s) => s.clone(),
        Err(_) => value.str()?,
    };
    Ok(match PyBackedStr::try_from(s.clone()) {
        Ok(backed) => Text::Backed(backed),
        Err(_) => Text::Lossy(s.to_string_lossy().into_owned()),
    })
}

/// `LogRecord.created` as the wire's seconds and nanoseconds within the
/// second; the current time if it is not a finite number.
fn split_created(created: f64) -> (i64, i64) {
    if !created.is_finite() {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        return (
            i64::try_from(now.as_secs()).unwrap_or(i64::MAX),
            i64::from(now.subsec_nanos()),
        );
    }
    let secs = created.floor();
    let nsecs = ((created - secs) * 1e9) as i64;
    (secs as i64, nsecs.clamp(0, 999_999_999))
}

/// `signature='md5'` or `'sha256'`.
fn mac_alg(name: &str) -> PyResult<MacAlg> {
    match name.to_ascii_lowercase().as_str() {
        "md5" => Ok(MacAlg::Md5),
        "sha256" => Ok(MacAlg::Sha256),
        _ => Err(PyValueError::new_err(format!(
            "signature must be 'md5' or 'sha256', not {name:?}"
        ))),
    }
}

fn seconds(timeout: f64) -> PyResult<Duration> {
    Duration::try_from_secs_f64(timeout.max(0.0))
        .map_err(|e| PyValueError::new_err(format!("bad timeout {timeout}: {e}")))
}

fn build_error(e: ClientError) -> PyErr {
    PyValueError::new_err(format!("loghog: {e}"))
}

/// The native module: `loghog._native.Sender` and `encode_frame`.
#[pymodule]
fn _native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    if !fork::install() {
        return Err(PyRuntimeError::new_err(
            "loghog: cannot install the fork hook (pthread_atfork)",
        ));
    }
    m.add_class::<Sender>()?;
    m.add_function(wrap_pyfunction!(encode_frame, m)?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::split_created;

    #[test]
    fn created_splits_into_seconds_and_nanoseconds() {
        assert_eq!(split_created(1_358_363_502.0), (1_358_363_502, 0));
        let (s, ns) = split_created(1_358_363_502.012_043);
        assert_eq!(s, 1_358_363_502);
        assert!((12_042_000..12_044_000).contains(&ns), "{ns}");
        assert_eq!(split_created(-0.5), (-1, 500_000_000));
        assert!(split_created(f64::NAN).0 > 1_700_000_000);
    }
}
