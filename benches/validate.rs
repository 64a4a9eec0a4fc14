//! Validation throughput on real configs: every golden node config, parsed, located and
//! checked (schema, Ignition rules, kindling lints), as `kindling validate` does it.

use std::path::Path;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kindling::validate::input::validate_text;

fn golden_configs() -> Vec<(String, String)> {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden");
    let mut configs = Vec::new();
    for case in [
        "single-node",
        "three-node",
        "five-node-fqdn",
        "loopback-tls",
    ] {
        let expected = golden.join(case).join("expected");
        let mut files: Vec<_> = std::fs::read_dir(&expected)
            .expect("expected dir")
            .map(|e| e.expect("entry").path())
            .collect();
        files.sort();
        for file in files {
            configs.push((
                file.display().to_string(),
                std::fs::read_to_string(&file).expect("config"),
            ));
        }
    }
    configs
}

fn validate_golden(c: &mut Criterion) {
    let configs = golden_configs();
    let mut group = c.benchmark_group("validate");
    group.throughput(Throughput::Elements(configs.len() as u64));
    group.bench_function("all golden node configs", |b| {
        b.iter(|| {
            for (name, text) in &configs {
                assert!(validate_text(name, text.clone()).is_empty());
            }
        })
    });
    group.finish();
}

criterion_group!(benches, validate_golden);
criterion_main!(benches);
