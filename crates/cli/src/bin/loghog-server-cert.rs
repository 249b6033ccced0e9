//! `loghog-server-cert [domain]`: makes a CA and a server certificate for
//! loghogd's ssl listeners in the current directory (see `loghog_cli::certs`).
use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use loghog_cli::certs::{self, KeyType};

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
}

fn main() -> ExitCode {
    let args = Args::parse();
    let key_type = if args.rsa {
        KeyType::Rsa
    } else {
        KeyType::Ecdsa
    };
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
