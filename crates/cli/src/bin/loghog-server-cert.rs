//! `loghog-server-cert [domain]`: makes a CA and a server certificate for
//! loghogd's ssl listeners in the current directory (see `loghog_cli::certs`).
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use loghog_cli::certs::{self, KeyType, Upgraded};

/// Make a CA and a server certificate for loghogd's ssl listeners.
///
/// Writes {domain}-ca.key (the CA key, 0600: keep it secret),
/// {domain}-ca.cert (for loghogd's `cacert` and for every client) and
/// {domain}-server.pem (key + certificate, 0600: loghogd's `pemfile`) into
/// the current directory. Then make client certificates with
/// `loghog-client-cert <name>`.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The server's DNS name, written into the certificate; also the file prefix.
    #[arg(default_value = "loghog")]
    domain: String,
    /// Use RSA-2048 keys instead of ECDSA P-256.
    #[arg(long)]
    rsa: bool,
    /// Overwrite existing files.
    #[arg(long)]
    force: bool,
    /// Keep the existing CA key and bring the CA certificate and the server
    /// pem up to date: re-issue as X.509 v3, with the same key and subject,
    /// what current TLS libraries refuse (such as the original's v1
    /// certificates); keep what is usable. Replaced files are renamed to
    /// FILE.old-STAMP. Clients keep their CA file.
    #[arg(long, conflicts_with = "force")]
    upgrade: bool,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let key_type = if args.rsa {
        KeyType::Rsa
    } else {
        KeyType::Ecdsa
    };
    if args.upgrade {
        return upgrade(&args.domain, key_type);
    }
    match certs::make_server_files(Path::new("."), &args.domain, key_type, args.force) {
        Ok(files) => {
            println!(
                "wrote {} (CA private key: keep it secret)",
                files.ca_key.display()
            );
            println!(
                "wrote {} (CA certificate: loghogd cacert, and for clients)",
                files.ca_cert.display()
            );
            println!(
                "wrote {} (server key and certificate: loghogd pemfile)",
                files.server_pem.display()
            );
            println!("next: loghog-client-cert <name> for each client");
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("loghog-server-cert: {err}");
            ExitCode::FAILURE
        }
    }
}

fn upgrade(domain: &str, key_type: KeyType) -> ExitCode {
    let stamp = time::OffsetDateTime::now_utc();
    let stamp = format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        stamp.year(),
        u8::from(stamp.month()),
        stamp.day(),
        stamp.hour(),
        stamp.minute(),
        stamp.second()
    );
    match certs::upgrade_server_files(Path::new("."), domain, key_type, &stamp) {
        Ok(done) => {
            for step in done {
                match step {
                    Upgraded::Kept(path) => println!("kept {} (usable)", path.display()),
                    Upgraded::Created(path) => {
                        println!("wrote {} (it was missing)", path.display())
                    }
                    Upgraded::Replaced { path, backup, why } => println!(
                        "re-issued {} because {why}; the old file is {}",
                        path.display(),
                        backup.display()
                    ),
                }
            }
            println!(
                "the CA key is unchanged: clients keep their CA file; re-issue client \
                 certificates made by older tools with loghog-client-cert <name>"
            );
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("loghog-server-cert: {err}");
            ExitCode::FAILURE
        }
    }
}
