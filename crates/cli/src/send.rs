//! `loghog send`: arguments or stdin lines become records, delivered
//! before the command exits.
//!
//! Unlike a logger inside an application, the command must not lose
//! anything silently: it waits (bounded by --timeout) whenever the buffer
//! fills, and exits non-zero if anything was not delivered. With `--ack`
//! it waits for the server's acknowledgements and also exits non-zero when
//! the server refused a record, with the server's reason.
use std::io::BufRead;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::Args;
use loghog_client::{Client, ClientError};

use crate::ConnectArgs;

/// Records held before the command waits for the sender to catch up.
const HIGH_WATER: u64 = 16 * 1024;

/// Options of `loghog send`.
#[derive(Debug, Args)]
pub(crate) struct SendArgs {
    #[command(flatten)]
    connect: ConnectArgs,
    /// Application name (a section of the server's facilities.conf).
    #[arg(long)]
    app: String,
    /// Module (logger name) of every record.
    #[arg(long, default_value = "root")]
    module: String,
    /// Seconds to wait for delivery once input ends (and whenever the
    /// buffer is full) before giving up with an error.
    #[arg(long, default_value_t = 10.0, value_parser = parse_seconds)]
    timeout: f64,
    /// Records to send; without any, each line of stdin is one record.
    #[arg(value_name = "MESSAGE")]
    messages: Vec<String>,
}

fn parse_seconds(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("`{s}` is not a number of seconds")),
    }
}

/// Runs `loghog send`.
pub(crate) fn run(args: &SendArgs) -> anyhow::Result<()> {
    let timeout = Duration::from_secs_f64(args.timeout);
    let client = args
        .connect
        .builder(&args.app)
        .max_buffer_size(2 * HIGH_WATER as usize)
        .connect_timeout(timeout.min(Duration::from_secs(5)))
        .drop_timeout(Duration::ZERO)
        .build()
        .context("cannot set up the client")?;
    let target = client.endpoint().display_addr();
    let deliver = |result: Result<(), ClientError>| -> anyhow::Result<()> {
        match result {
            Ok(()) => Ok(()),
            Err(ClientError::Timeout {
                pending,
                last_error,
                ..
            }) => {
                let why = last_error.map(|e| format!(": {e}")).unwrap_or_default();
                bail!(
                    "could not deliver {pending} record(s) to {target} within {} s{why}",
                    args.timeout
                )
            }
            Err(e) => Err(e.into()),
        }
    };
    if args.messages.is_empty() {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let mut line = Vec::new();
        loop {
            line.clear();
            if input
                .read_until(b'\n', &mut line)
                .context("reading stdin")?
                == 0
            {
                break;
            }
            let text = line
                .strip_suffix(b"\n")
                .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
                .unwrap_or(&line);
            client.send(&args.module, &String::from_utf8_lossy(text));
            wait_if_full(&client, timeout, &deliver)?;
        }
    } else {
        for message in &args.messages {
            client.send(&args.module, message);
            wait_if_full(&client, timeout, &deliver)?;
        }
    }
    deliver(client.close(timeout))?;
    let dropped = client.dropped();
    if dropped > 0 {
        bail!("{dropped} record(s) were dropped before they could be sent to {target}");
    }
    // Only known with --ack: a v1 server drops refused records silently.
    if let (refused @ 1.., reason) = client.rejected() {
        let reason = reason.unwrap_or_else(|| "no reason given".into());
        bail!("{target} refused {refused} record(s): reason={reason}");
    }
    Ok(())
}

fn wait_if_full(
    client: &Client,
    timeout: Duration,
    deliver: &dyn Fn(Result<(), ClientError>) -> anyhow::Result<()>,
) -> anyhow::Result<()> {
    if client.pending() >= HIGH_WATER {
        deliver(client.flush(timeout))?;
    }
    Ok(())
}
