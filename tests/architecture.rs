//! The rooms of the crate (its top-level modules) depend on each other one way: a room that
//! names another (`crate::resolve::…`) may not be named back, directly or through others.
//! The pipeline's stages and the helpers under them then stay readable in one direction.
//! Test code (after `#[cfg(test)]`) and the crate root (`lib.rs`, `main.rs`) are left out.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// Every room and the rooms it names.
fn arrows() -> BTreeMap<String, BTreeSet<String>> {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut arrows: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut pending = vec![src.clone()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
                continue;
            }
            if path.extension().is_none_or(|e| e != "rs") {
                continue;
            }
            let relative = path.strip_prefix(&src).unwrap();
            let first = relative.components().next().unwrap().as_os_str();
            let room = first.to_str().unwrap().trim_end_matches(".rs").to_string();
            if room == "lib" || room == "main" {
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            let code = text.split("#[cfg(test)]").next().unwrap();
            let named = arrows.entry(room.clone()).or_default();
            for (at, _) in code.match_indices("crate::") {
                let rest = &code[at + "crate::".len()..];
                let other: String = rest
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                    .collect();
                if !other.is_empty() && other != room {
                    named.insert(other);
                }
            }
        }
    }
    arrows
}

/// The rooms `from` reaches by following arrows.
fn reached(arrows: &BTreeMap<String, BTreeSet<String>>, from: &str) -> BTreeSet<String> {
    let mut seen = BTreeSet::new();
    let mut pending = vec![from.to_string()];
    while let Some(room) = pending.pop() {
        for next in arrows.get(&room).into_iter().flatten() {
            if seen.insert(next.clone()) {
                pending.push(next.clone());
            }
        }
    }
    seen
}

#[test]
fn the_rooms_depend_on_each_other_one_way() {
    let arrows = arrows();
    assert!(arrows.contains_key("resolve") && arrows.contains_key("tls"));
    let mut circles = Vec::new();
    for (room, named) in &arrows {
        for other in named {
            if reached(&arrows, other).contains(room) {
                circles.push(format!("{room} -> {other} -> … -> {room}"));
            }
        }
    }
    assert!(
        circles.is_empty(),
        "circles between rooms:\n{}",
        circles.join("\n")
    );
}
