//! The `loghog` command: `send` (like logger(1): arguments or stdin lines
//! become records), `bench` (a load generator), `cat`, `tail`, `grep`
//! (reading the log files, archives included) and `status` (a running
//! daemon's metrics, summarised).
//!
//! A thin main: clap parses, the subcommand modules do the work through
//! loghog-client, and any error becomes one line on stderr and exit 1.
mod bench;
mod read;
mod send;
mod status;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use loghog_client::ClientBuilder;

/// Send log records to a LogHog daemon, load-test one, or read its logs.
#[derive(Debug, Parser)]
#[command(name = "loghog", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Send records: each MESSAGE argument, or else each line of stdin,
    /// becomes one record whose body is exactly that text.
    Send(send::SendArgs),
    /// Generate load: prebuilt frames written as fast as possible (or at
    /// --rate) over one or more connections.
    Bench(bench::BenchArgs),
    /// Print a facility's records oldest first, from every rotated archive
    /// (xz, bzip2, gzip) and the live file.
    Cat(read::CatArgs),
    /// Print a facility's last records; with -f keep following it across
    /// rotations.
    Tail(read::TailArgs),
    /// Print the records of a facility that match a regular expression.
    Grep(read::GrepArgs),
    /// Summarise a running daemon from its metrics endpoint: up since,
    /// records/s now, per-app counts, rejections by reason, queue depth.
    Status(status::StatusArgs),
}

/// Where to send and how: the options both subcommands share.
#[derive(Debug, Clone, Args)]
pub(crate) struct ConnectArgs {
    /// Server host name or address (every address it resolves to is tried).
    #[arg(long, default_value = "localhost")]
    host: String,
    /// Server port.
    #[arg(long, default_value_t = loghog_client::DEFAULT_PORT)]
    port: u16,
    /// Send UDP datagrams instead of a TCP stream.
    #[arg(long, conflicts_with = "pem")]
    udp: bool,
    /// Compress each payload with zlib.
    #[arg(long)]
    compress: bool,
    /// Sign each record with HMAC-MD5 under this secret.
    #[arg(long)]
    secret: Option<String>,
    /// With --secret: the MAC, md5 (v1, the default) or sha256.
    #[arg(long, default_value = "md5", value_parser = ["md5", "sha256"], requires = "secret")]
    signature: String,
    /// With --secret: add a nonce and a record number under their own
    /// signature, so a server with replay_protection = yes refuses replays.
    #[arg(long, requires = "secret")]
    replay_protection: bool,
    /// TLS: the client PEM file (private key and certificate).
    #[arg(long, requires = "ca")]
    pem: Option<PathBuf>,
    /// TLS: the CA certificate the server's chain must lead to.
    #[arg(long, requires = "pem")]
    ca: Option<PathBuf>,
    /// The hostname field of each record (default: this machine's name).
    #[arg(long)]
    hostname: Option<String>,
    /// Acknowledged delivery (protocol v2): wait for the server to confirm
    /// each record written or say why it refused it. Falls back to v1
    /// against a server that does not answer.
    #[arg(long, conflicts_with = "udp")]
    ack: bool,
}

impl ConnectArgs {
    /// A client builder for `app` with these options.
    pub(crate) fn builder(&self, app: &str) -> ClientBuilder {
        let mut b = ClientBuilder::new(app)
            .host(&self.host)
            .port(self.port)
            .datagram(self.udp)
            .compression(self.compress)
            .ack(self.ack);
        if let Some(secret) = &self.secret {
            let mac = if self.signature == "sha256" {
                loghog_client::MacAlg::Sha256
            } else {
                loghog_client::MacAlg::Md5
            };
            b = b
                .secret(secret)
                .signature(mac)
                .replay_protection(self.replay_protection);
        }
        if let (Some(pem), Some(ca)) = (&self.pem, &self.ca) {
            b = b.tls(pem, ca);
        }
        if let Some(hostname) = &self.hostname {
            b = b.hostname(hostname);
        }
        b
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Send(args) => send::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Bench(args) => bench::run(&args).map(|()| ExitCode::SUCCESS),
        Command::Cat(args) => read::cat(&args),
        Command::Tail(args) => read::tail(&args),
        Command::Status(args) => status::run(&args).map(|()| ExitCode::SUCCESS),
        // grep(1)'s convention: 2 for trouble, 1 only for "nothing found".
        Command::Grep(args) => read::grep(&args).or_else(|e| {
            eprintln!("loghog: {e:#}");
            Ok(ExitCode::from(2))
        }),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("loghog: {e:#}");
            ExitCode::FAILURE
        }
    }
}
