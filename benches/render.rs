//! Render + validate throughput: the three-node golden case, and a generated 1000-node
//! cluster (its PKI is made once in setup; only compiling is measured).

use std::path::{Path, PathBuf};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use kindling::{Options, compile, pki, resolve, spec};

fn three_node(c: &mut Criterion) {
    let spec = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/three-node/cluster.yaml");
    let mut group = c.benchmark_group("render+validate");
    group.throughput(Throughput::Elements(3));
    group.bench_function("three-node", |b| {
        b.iter(|| compile(&spec, &Options::default()).expect("compiles"))
    });
    group.finish();
}

/// Writes a 1000-node spec beside the three-node case's SHA256SUMS and makes its PKI.
fn thousand_node_spec(dir: &Path) -> PathBuf {
    let golden = Path::new(env!("CARGO_MANIFEST_DIR")).join("golden/three-node");
    std::fs::copy(golden.join("SHA256SUMS"), dir.join("SHA256SUMS")).expect("copy sums");
    let mut text = String::from(
        "version: 1\ncluster: { name: big }\netcd: { version: v3.5.21 }\nsysext:\n  base_url: http://m:8080/assets/extensions\n  sha256sums: SHA256SUMS\nnetwork: { subnet: 10.1.0.0/16 }\nnodes:\n",
    );
    for i in 0..1000 {
        text.push_str(&format!(
            "  - {{ name: n{i:04}, ip: 10.1.{}.{} }}\n",
            i / 200,
            i % 200 + 1
        ));
    }
    let path = dir.join("cluster.yaml");
    std::fs::write(&path, text).expect("write spec");
    let document = spec::load(&path).expect("spec parses");
    let cluster = resolve::resolve(&document).expect("spec resolves");
    let validity = pki::Validity {
        ca_days: 30,
        leaf_days: 30,
    };
    pki::init(&cluster, validity, time::OffsetDateTime::now_utc()).expect("pki");
    path
}

fn thousand_nodes(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let spec = thousand_node_spec(dir.path());
    let mut group = c.benchmark_group("render+validate");
    group.sample_size(10);
    group.throughput(Throughput::Elements(1000));
    group.bench_function("1000-node", |b| {
        b.iter(|| compile(&spec, &Options::default()).expect("compiles"))
    });
    group.finish();
}

criterion_group!(benches, three_node, thousand_nodes);
criterion_main!(benches);
