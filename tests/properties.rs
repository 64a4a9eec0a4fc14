//! Properties over generated input (proptest): render is deterministic and everything it
//! renders passes validate, whatever valid settings the spec holds; materialize of any
//! config, however hostile its paths and links, never writes outside its root.

mod common;

use std::path::Path;

use kindling::Options;
use proptest::prelude::*;
use proptest::strategy::ValueTree;
use serde_json::{Value, json};

/// Valid etcd settings for the three-node spec: (gomaxprocs, heartbeat, election factor,
/// snapshot count, log level, ignition version, pretty).
fn settings() -> impl Strategy<Value = (u32, u64, u64, u64, &'static str, &'static str, bool)> {
    (
        1u32..256,
        1u64..1000,
        5u64..50,
        1u64..1_000_000,
        prop::sample::select(vec!["debug", "info", "warn", "error"]),
        prop::sample::select(vec!["3.3.0", "3.4.0"]),
        any::<bool>(),
    )
}

fn write_spec(dir: &Path, case: &(u32, u64, u64, u64, &str, &str, bool)) {
    let (gomaxprocs, heartbeat, factor, snapshots, log_level, ignition, _) = *case;
    let election = (heartbeat * factor).min(50_000);
    let spec = std::fs::read_to_string(common::golden("three-node").join("cluster.yaml"))
        .unwrap()
        .replace(
            "  gomaxprocs: 2\n",
            &format!(
                "  gomaxprocs: {gomaxprocs}\n  heartbeat_ms: {heartbeat}\n  election_timeout_ms: {election}\n  snapshot_count: {snapshots}\n  log_level: {log_level}\n"
            ),
        )
        .replace("  name: k8s0\n", &format!("  name: k8s0\n  ignition: \"{ignition}\"\n"));
    std::fs::write(dir.join("cluster.yaml"), spec).unwrap();
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn render_is_deterministic_and_every_config_validates(case in settings()) {
        let dir = common::scratch_copy("three-node");
        write_spec(dir.path(), &case);
        let options = Options { pretty: case.6, ..Options::default() };
        let spec = dir.path().join("cluster.yaml");
        let first = kindling::compile(&spec, &options).expect("a valid spec renders");
        let second = kindling::compile(&spec, &options).expect("and renders again");
        prop_assert_eq!(first.nodes.len(), 3);
        for (a, b) in first.nodes.iter().zip(&second.nodes) {
            prop_assert_eq!(&a.json, &b.json, "render is not deterministic");
            let report = kindling::validate::input::validate_text(&a.name, a.json.clone());
            prop_assert!(report.is_empty(), "{}: {:?}", a.name, report.diagnostics);
        }
    }
}

/// A node path built from hostile pieces: `..`, `.`, empty components, absolute jumps.
fn hostile_path() -> impl Strategy<Value = String> {
    let part = prop_oneof![
        12 => prop::sample::select(vec!["a", "b", "etc", "outside", "link"]),
        1 => prop::sample::select(vec!["..", ".", ""]),
    ];
    prop::collection::vec(part, 1..5).prop_map(|parts| format!("/{}", parts.join("/")))
}

fn hostile_target() -> impl Strategy<Value = String> {
    prop_oneof![
        hostile_path(),
        Just("../../outside".to_string()),
        Just("/".to_string()),
        Just("..".to_string()),
    ]
}

fn hostile_config() -> impl Strategy<Value = Value> {
    let file = (hostile_path(), any::<bool>()).prop_map(|(path, overwrite)| {
        json!({"path": path, "overwrite": overwrite, "contents": {"source": "data:,x"}})
    });
    let directory = hostile_path().prop_map(|path| json!({"path": path}));
    let link = (hostile_path(), hostile_target(), any::<bool>())
        .prop_map(|(path, target, hard)| json!({"path": path, "target": target, "hard": hard}));
    (
        prop::collection::vec(file, 0..4),
        prop::collection::vec(directory, 0..3),
        prop::collection::vec(link, 0..4),
    )
        .prop_map(|(files, directories, links)| {
            json!({"ignition": {"version": "3.4.0"},
                   "storage": {"files": files, "directories": directories, "links": links}})
        })
}

/// Materializes `config` (twice when asked) into a root beside a directory standing for
/// the rest of the machine; Err when anything outside the root changed. Returns whether
/// materialize succeeded.
fn materialize_in_sandbox(config: &Value, twice: bool) -> Result<bool, String> {
    let sandbox = tempfile::tempdir().unwrap();
    let outside = sandbox.path().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep"), "keep\n").unwrap();
    let config_path = sandbox.path().join("config.ign");
    std::fs::write(&config_path, config.to_string()).unwrap();
    let options = kindling::materialize::Options {
        root: sandbox.path().join("root"),
        assets: None,
    };
    let mut succeeded = true;
    for _ in 0..if twice { 2 } else { 1 } {
        // Errors are fine; writing outside the root is not.
        succeeded &= kindling::materialize::materialize(&config_path, &options).is_ok();
    }
    let mut names: Vec<String> = std::fs::read_dir(sandbox.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    names.sort();
    if names != ["config.ign", "outside", "root"] && names != ["config.ign", "outside"] {
        return Err(format!("written beside the root: {names:?}"));
    }
    let inside = std::fs::read_dir(&outside).unwrap().count();
    if inside != 1 || std::fs::read(outside.join("keep")).unwrap() != b"keep\n" {
        return Err("the directory outside the root changed".into());
    }
    Ok(succeeded)
}

#[test]
fn materialize_never_writes_outside_its_root() {
    let mut runner = proptest::test_runner::TestRunner::deterministic();
    let mut applied = 0;
    for _ in 0..300 {
        let config = hostile_config().new_tree(&mut runner).unwrap().current();
        let twice = applied % 2 == 0;
        match materialize_in_sandbox(&config, twice) {
            Ok(true) => applied += 1,
            Ok(false) => {}
            Err(escape) => panic!("{escape}\nconfig: {config}"),
        }
    }
    assert!(
        applied >= 30,
        "only {applied} of 300 configs were applied: the property is too weak"
    );
}

/// A cluster large enough to be compiled on several threads gives, node for node and in
/// spec order, the configs each node gets when compiled alone (on one thread).
#[test]
fn a_large_cluster_split_across_cores_compiles_as_each_node_alone() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::copy(
        common::golden("three-node").join("SHA256SUMS"),
        dir.path().join("SHA256SUMS"),
    )
    .unwrap();
    let mut text = String::from(
        "version: 1\ncluster: { name: wide }\netcd: { version: v3.5.21 }\nsysext:\n  base_url: http://m:8080/assets/extensions\n  sha256sums: SHA256SUMS\nnetwork: { subnet: 10.1.0.0/16 }\nnodes:\n",
    );
    let names: Vec<String> = (0..67).map(|i| format!("n{i:02}")).collect();
    for (i, name) in names.iter().enumerate() {
        text.push_str(&format!("  - {{ name: {name}, ip: 10.1.0.{} }}\n", i + 1));
    }
    let spec = dir.path().join("cluster.yaml");
    std::fs::write(&spec, text).unwrap();
    let cluster = kindling::resolve::resolve(&kindling::spec::load(&spec).unwrap()).unwrap();
    let validity = kindling::pki::Validity {
        ca_days: 30,
        leaf_days: 30,
    };
    kindling::pki::init(&cluster, validity, time::OffsetDateTime::now_utc()).unwrap();
    let whole = kindling::compile(&spec, &Options::default()).expect("compiles");
    let rendered: Vec<&str> = whole.nodes.iter().map(|n| n.name.as_str()).collect();
    assert_eq!(rendered, names);
    for index in [0, 31, 32, 33, 66] {
        let alone = Options {
            only_node: Some(names[index].clone()),
            ..Options::default()
        };
        let single = kindling::compile(&spec, &alone).expect("compiles alone");
        assert_eq!(single.nodes.len(), 1);
        assert_eq!(
            single.nodes[0].json, whole.nodes[index].json,
            "{}",
            names[index]
        );
    }
}
