//! User profiles: loaded with --profiles or a path in the spec, and held to the same rules as
//! the built-in one. Mistakes point at the profile line (or template line) that made them.

mod common;

use std::path::Path;

use common::{copy_tree, kindling, repo, scratch_copy};

/// A scratch three-node spec plus a copy of the built-in profile under `my-profiles/custom`.
fn setup() -> tempfile::TempDir {
    let dir = scratch_copy("three-node");
    copy_tree(
        &repo().join("profiles/flatcar-sysext"),
        &dir.path().join("my-profiles/custom"),
        &|_| false,
    );
    let spec = dir.path().join("cluster.yaml");
    let text = std::fs::read_to_string(&spec)
        .unwrap()
        .replace("profile: flatcar-sysext", "profile: custom");
    std::fs::write(&spec, text).unwrap();
    dir
}

fn edit(path: &Path, old: &str, new: &str) {
    let text = std::fs::read_to_string(path).unwrap();
    assert!(text.contains(old), "{old:?} not in {}", path.display());
    std::fs::write(path, text.replacen(old, new, 1)).unwrap();
}

fn render(dir: &Path) -> std::process::Output {
    kindling()
        .args(["--format", "json", "render"])
        .arg(dir.join("cluster.yaml"))
        .args(["-o", "-", "--node", "etcd1", "--profiles"])
        .arg(dir.join("my-profiles"))
        .output()
        .unwrap()
}

/// The errors of a render to stdout (the spec's own warnings, such as plain-HTTP updates,
/// are left out).
fn findings(output: &std::process::Output) -> serde_json::Value {
    errors(&output.stderr)
}

/// The errors of a JSON report.
fn errors(report: &[u8]) -> serde_json::Value {
    let all: serde_json::Value = serde_json::from_slice(report)
        .unwrap_or_else(|_| panic!("not JSON: {}", String::from_utf8_lossy(report)));
    all.as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] == "error")
        .cloned()
        .collect()
}

/// `setup`, with a profile entry whose path is relative: every node's config is invalid.
fn setup_with_a_relative_path() -> tempfile::TempDir {
    let dir = setup();
    edit(
        &dir.path().join("my-profiles/custom/profile.yaml"),
        "path: /etc/hostname",
        "path: etc/hostname",
    );
    dir
}

/// The custom profile in `dir` gives etcd1 the config the built-in one gives it.
fn assert_renders_as_builtin(dir: &Path) {
    let custom = render(dir);
    assert!(
        custom.status.success(),
        "{}",
        String::from_utf8_lossy(&custom.stderr)
    );
    let builtin = kindling()
        .arg("render")
        .arg(common::golden("three-node").join("cluster.yaml"))
        .args(["-o", "-", "--node", "etcd1"])
        .output()
        .unwrap();
    assert_eq!(custom.stdout, builtin.stdout);
}

#[test]
fn a_copy_of_the_builtin_profile_renders_the_same_bytes() {
    let dir = setup();
    assert_renders_as_builtin(dir.path());
}

/// The built-in profile prints no list of the env file's lines, so its nodes' contexts
/// leave the list out; a profile that walks it gets it, and the same file.
#[test]
fn a_profile_that_walks_a_list_the_builtin_one_does_not_print_gets_it() {
    let dir = setup();
    edit(
        &dir.path().join("my-profiles/custom/etcd.env.hbs"),
        "{{etcd.env_lines}}\n",
        "{{#each etcd.env}}{{name}}={{value}}\n{{/each}}",
    );
    assert_renders_as_builtin(dir.path());
}

#[test]
fn a_profile_given_as_a_path_in_the_spec_is_used() {
    let dir = setup();
    edit(
        &dir.path().join("cluster.yaml"),
        "profile: custom",
        "profile: ./my-profiles/custom",
    );
    edit(
        &dir.path().join("my-profiles/custom/hostname.hbs"),
        "{{node.name}}",
        "host-{{node.name}}",
    );
    let output = kindling()
        .arg("render")
        .arg(dir.path().join("cluster.yaml"))
        .args(["-o", "-", "--node", "etcd1"])
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).contains("data:,host-etcd1%0A"));
}

#[test]
fn a_template_syntax_error_points_at_the_template_line() {
    let dir = setup();
    edit(
        &dir.path().join("my-profiles/custom/etcd.service.hbs"),
        "TimeoutStartSec=0\n",
        "TimeoutStartSec=0 {{/if}}\n",
    );
    let output = render(dir.path());
    assert_eq!(output.status.code(), Some(1));
    let finding = &findings(&output)[0];
    assert_eq!(finding["code"], "profile.template");
    assert!(
        finding["file"]
            .as_str()
            .unwrap()
            .ends_with("etcd.service.hbs")
    );
    assert_eq!(
        (finding["line"].as_u64(), finding["column"].as_u64()),
        (Some(37), Some(21))
    );
}

#[test]
fn a_template_printing_an_unknown_value_is_refused() {
    let dir = setup();
    edit(
        &dir.path().join("my-profiles/custom/hostname.hbs"),
        "{{node.name}}",
        "{{node.nmae}}",
    );
    let finding = &findings(&render(dir.path()))[0];
    assert_eq!(finding["code"], "profile.render");
    assert!(finding["file"].as_str().unwrap().ends_with("profile.yaml"));
}

/// A manifest string that is one value (`{{layout.env_file}}`) is looked up without
/// handlebars; a missing one still fails as handlebars fails, at the manifest line.
#[test]
fn an_inline_value_that_does_not_exist_is_refused_at_its_line() {
    let dir = setup();
    let manifest = dir.path().join("my-profiles/custom/profile.yaml");
    edit(&manifest, "{{layout.env_file}}", "{{layout.env_fil}}");
    let line = std::fs::read_to_string(&manifest)
        .unwrap()
        .lines()
        .position(|l| l.contains("{{layout.env_fil}}"))
        .unwrap()
        + 1;
    let output = render(dir.path());
    assert_eq!(output.status.code(), Some(1));
    let finding = &findings(&output)[0];
    assert_eq!(finding["code"], "profile.render");
    assert!(finding["file"].as_str().unwrap().ends_with("profile.yaml"));
    assert_eq!(finding["line"].as_u64(), Some(line as u64));
    let message = finding["message"].as_str().unwrap();
    assert!(message.contains("layout.env_fil"), "{message}");
}

#[test]
fn an_invalid_config_from_a_profile_is_traced_to_its_entry() {
    let dir = setup_with_a_relative_path();
    let output = render(dir.path());
    assert_eq!(output.status.code(), Some(1));
    let all = findings(&output);
    let finding = all
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "ign.path-relative")
        .expect("ign.path-relative");
    assert!(
        finding["path"]
            .as_str()
            .unwrap()
            .starts_with("$.storage.files.")
    );
    assert!(
        finding["origin"]
            .as_str()
            .unwrap()
            .contains("profile.yaml:56 (files[17], hostname.hbs)"),
        "{finding}"
    );
    assert!(output.stdout.is_empty());
}

/// `check` validates each node's config without printing it, and refuses what `render`
/// refuses, at the same entry.
#[test]
fn check_refuses_an_invalid_config_from_a_profile_as_render_does() {
    let dir = setup_with_a_relative_path();
    let rendered = kindling()
        .args(["--format", "json", "render"])
        .arg(dir.path().join("cluster.yaml"))
        .arg("-o")
        .arg(dir.path().join("out"))
        .arg("--profiles")
        .arg(dir.path().join("my-profiles"))
        .output()
        .unwrap();
    let checked = kindling()
        .args(["--format", "json", "check"])
        .arg(dir.path().join("cluster.yaml"))
        .arg("--profiles")
        .arg(dir.path().join("my-profiles"))
        .output()
        .unwrap();
    assert_eq!(rendered.status.code(), Some(1));
    assert_eq!(checked.status.code(), Some(1));
    let refused = errors(&checked.stdout);
    assert_eq!(refused, errors(&rendered.stdout));
    let refused = refused.as_array().unwrap();
    assert_eq!(refused.len(), 3, "one per node: {refused:?}");
    assert!(refused.iter().all(|f| f["code"] == "ign.path-relative"));
}

#[test]
fn a_unit_with_broken_syntax_is_refused() {
    let dir = setup();
    edit(
        &dir.path().join("my-profiles/custom/etcd.service.hbs"),
        "[Service]",
        "[Service",
    );
    let all = findings(&render(dir.path()));
    let finding = all
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["code"] == "ign.unit-syntax")
        .expect("ign.unit-syntax");
    assert!(
        finding["origin"]
            .as_str()
            .unwrap()
            .contains("etcd.service.hbs")
    );
}

#[test]
fn two_entries_for_one_path_are_refused() {
    let dir = setup();
    edit(
        &dir.path().join("my-profiles/custom/profile.yaml"),
        "path: /etc/hostname",
        "path: /etc/profile.d/etcdctl.sh",
    );
    assert_eq!(
        findings(&render(dir.path()))[0]["code"],
        "assemble.duplicate"
    );
}

#[test]
fn manifest_mistakes_are_located() {
    let cases: [(&str, &str, &str); 6] = [
        (
            "template: hostname.hbs,",
            "template: hostname.hbs, inline: x,",
            "profile.contents",
        ),
        (
            "template: hostname.hbs,",
            "template: missing.hbs,",
            "profile.template-missing",
        ),
        (
            "when: sysext.update_enabled\n",
            "when: sysext.base_url\n",
            "profile.when",
        ),
        (
            "mode: \"0644\", template: hostname.hbs",
            "mode: \"644\", template: hostname.hbs",
            "profile.mode",
        ),
        (
            "version: 1\n",
            "version: 1\nextra: 1\n",
            "profile.unknown-key",
        ),
        (
            "version: 1\n",
            "version: 1\nlayout: kubelet\n",
            "profile.layout",
        ),
    ];
    for (old, new, code) in cases {
        let dir = setup();
        edit(
            &dir.path().join("my-profiles/custom/profile.yaml"),
            old,
            new,
        );
        let finding = &findings(&render(dir.path()))[0];
        assert_eq!(finding["code"], code, "{new}: {finding}");
        assert!(
            finding["file"].as_str().unwrap().ends_with("profile.yaml"),
            "{finding}"
        );
        assert!(finding["line"].as_u64().is_some(), "{finding}");
    }
}
