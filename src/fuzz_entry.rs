//! What each fuzz target runs (`fuzz/fuzz_targets/`), kept in the library so the
//! regression test (`tests/fuzz_regressions.rs`) replays saved inputs through exactly the
//! same code. Each entry must never panic, whatever the bytes.

use std::path::Path;

use crate::diag::{Format, Report};

/// Spec parsing and resolution, and the printing of whatever they report.
pub fn spec(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let report = match crate::spec::parse(Path::new("fuzz.yaml"), text.to_string()) {
        Ok(document) => match crate::resolve::resolve(&document) {
            Ok(_) => return,
            Err(report) => report,
        },
        Err(report) => report,
    };
    print_everywhere(&report);
}

/// The Ignition validator on any bytes (read as a config file is), and the printing of its
/// findings.
pub fn validate(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    print_everywhere(&crate::validate::input::validate_text("fuzz.ign", text));
}

/// The data-URL decoder on any string, and the encoder's round trip on any bytes.
pub fn dataurl(data: &[u8]) {
    use crate::ignition::dataurl::{decode, encode};
    if let Ok(text) = std::str::from_utf8(data) {
        let _ = decode(text);
    }
    let url = encode(data);
    assert_eq!(decode(&url).as_deref(), Ok(data), "round trip of {url}");
}

/// The redactor and excerpt window on any text and column: the caret stays inside the
/// shown text, and nothing shown is longer than the window allows.
pub fn redact(data: &[u8]) {
    let Some((&column, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let _ = crate::redact::printable(&text);
    let (shown, caret) = crate::redact::excerpt(&text, usize::from(column));
    assert!(
        caret <= shown.chars().count(),
        "caret {caret} past {shown:?}"
    );
    assert!(shown.chars().count() <= 110, "window too wide: {shown:?}");
}

/// The Butane translator on any bytes (no files directory, so nothing is read from disk),
/// and on success the readable view of its output, as `kindling show` prints it.
pub fn butane(data: &[u8]) {
    let text = String::from_utf8_lossy(data).into_owned();
    let source = crate::diag::SourceFile::new("fuzz.bu", text);
    match crate::butane::translate(&source, &crate::butane::Options::default()) {
        Ok(translation) => {
            print_everywhere(&translation.warnings);
            let _ = crate::show::render(&translation.config);
        }
        Err(report) => print_everywhere(&report),
    }
}

fn print_everywhere(report: &Report) {
    for format in [Format::Human, Format::Json, Format::Github] {
        let _ = report.render(format);
    }
    let _ = report.render_one_line();
}
