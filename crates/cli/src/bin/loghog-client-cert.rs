//! `loghog-client-cert <name> [ca-dir] [ca-name]`: makes a client certificate
//! signed by the CA that `loghog-server-cert` made (see `loghog_cli::certs`).
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Parser;
use loghog_cli::certs::{self, KeyType};

/// Make a client certificate for loghogd's ssl listeners.
///
/// Writes {name}.pem (key + certificate, 0600) into the current directory,
/// signed by the CA key {ca-name}-ca.key and its certificate {ca-name}-ca.cert.
/// Without ca-dir the CA is looked for in ., /etc/loghogd, /etc/loghogd/certs
/// and /usr/local/etc/loghogd. Run through sudo, the file is given to the
/// user who ran sudo.
#[derive(Parser)]
#[command(version)]
struct Args {
    /// The client's name: the certificate's common name and the file name.
    name: String,
    /// Directory holding {ca-name}-ca.key and {ca-name}-ca.cert.
    ca_dir: Option<PathBuf>,
    /// Prefix of the CA files (the domain given to loghog-server-cert).
    #[arg(default_value = certs::DEFAULT_CA_NAME)]
    ca_name: String,
    /// Use an RSA-2048 key instead of ECDSA P-256.
    #[arg(long)]
    rsa: bool,
    /// Overwrite an existing {name}.pem.
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
    let result = certs::find_ca(args.ca_dir.as_deref(), &args.ca_name).and_then(|ca| {
        println!("using CA {} and {}", ca.key.display(), ca.cert.display());
        let path = certs::make_client_file(Path::new("."), &args.name, &ca, key_type, args.force)?;
        let owner = certs::give_to_sudo_user(&path)?;
        Ok((path, owner))
    });
    match result {
        Ok((path, owner)) => {
            println!(
                "wrote {} (client key and certificate: keep it secret)",
                path.display()
            );
            if let Some(owner) = owner {
                println!("gave {} to {owner} (mode 0600)", path.display());
            }
            ExitCode::SUCCESS
        }
        Err(err) => {
            eprintln!("loghog-client-cert: {err}");
            ExitCode::FAILURE
        }
    }
}
