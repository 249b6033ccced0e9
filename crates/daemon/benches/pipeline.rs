//! The in-process ingest path: decode frames from a read buffer, open and
//! parse each payload, resolve its facility, format its line, and hand the
//! batch to a real writer thread that appends it to a file in a temp dir.
//! Sockets are left out (see `loghog bench` for the whole pipeline).
//!
//! cargo bench -p loghog-daemon --bench pipeline
use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use loghog_daemon::config::CompressFormat;
use loghog_daemon::config::Facilities;
use loghog_daemon::ingest::rejects::Rejects;
use loghog_daemon::router::Router;
use loghog_daemon::storage::rotation::SystemClock;
use loghog_daemon::storage::{Storage, StorageSettings};
use loghog_proto::{Decode, FLAG_ZLIB, FrameDecoder, Message, compress_payload, encode_frame};

const RECORDS: usize = 1000;

fn frames(secret: Option<&str>, zlib: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..RECORDS {
        let body = format!("INFO - request {i} served in 12ms {}", "x".repeat(150));
        let mut m = Message {
            version: 1,
            app_id: "bench".into(),
            module: "web.requests".into(),
            stamp: 1_700_000_000,
            nsecs: i as i64,
            hostname: Some("athens".into()),
            body: body.into(),
            signature: None,
            protection: Default::default(),
        };
        if let Some(s) = secret {
            m.sign(s.as_bytes());
        }
        let mut json = Vec::new();
        m.write_json(&mut json);
        if zlib {
            encode_frame(&compress_payload(&json), FLAG_ZLIB, &mut out);
        } else {
            encode_frame(&json, 0, &mut out);
        }
    }
    out
}

fn router(dir: &Path, storage: &Storage, secret: bool) -> Router {
    let conf = if secret {
        "[bench]\nrotate = daily\nbackup_count = 1\nsecret = s3cret\nflush_every = 1\n"
    } else {
        "[bench]\nrotate = daily\nbackup_count = 1\nflush_every = 1\n"
    };
    let (facilities, _) = Facilities::parse(Path::new("bench.conf"), conf).unwrap();
    Router::new(
        facilities,
        dir.to_owned(),
        false,
        1 << 20,
        storage.handle(),
        Arc::new(Rejects::new()),
    )
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let storage = Storage::start(
        &StorageSettings {
            shards: 1,
            queue_batches: 64,
            workdir: dir.path().join("work"),
            format: CompressFormat::Gzip,
            level: 1,
            max_open_files: loghog_daemon::storage::handle::DEFAULT_MAX_OPEN_FILES,
        },
        Arc::new(SystemClock),
    )
    .unwrap();
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(RECORDS as u64));
    for (name, secret, zlib) in [
        ("plain", false, false),
        ("signed", true, false),
        ("zlib", false, true),
    ] {
        let input = frames(secret.then_some("s3cret"), zlib);
        let r = router(dir.path(), &storage, secret);
        let peer = "127.0.0.1:1".parse().unwrap();
        group.bench_function(name, |b| {
            let mut batch = r.batch();
            b.iter(|| {
                let mut dec = FrameDecoder::new(1 << 20);
                r.begin(&mut batch, input.len());
                let mut pos = 0;
                while let Decode::Frame { frame, consumed } = dec.decode(&input[pos..]) {
                    r.route(&mut batch, peer, &frame);
                    pos += consumed;
                }
                black_box(pos);
                rt.block_on(r.commit(&mut batch)).unwrap();
            });
        });
    }
    group.finish();
    rt.block_on(storage.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
