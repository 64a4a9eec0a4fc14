//! systemd unit-file syntax, as far as it decides whether systemd can load a unit: sections
//! open and close properly, every other line is `Key=value`, a comment, blank, or the
//! continuation of a line ending in a backslash, and no line is absurdly long.

/// A syntax problem at a 1-based line of the unit text.
#[derive(Debug, PartialEq, Eq)]
pub struct SyntaxError {
    pub line: usize,
    pub message: String,
}

/// The longest line systemd's parser accepts.
const MAX_LINE: usize = 2048;

/// Parses unit text; returns the section names in order, or the first syntax error.
pub fn parse_sections(text: &str) -> Result<Vec<String>, SyntaxError> {
    let mut sections = Vec::new();
    let mut continued = false;
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        let error = |message: String| SyntaxError {
            line: number,
            message,
        };
        if line.len() > MAX_LINE {
            return Err(error(format!(
                "line is {} bytes, longer than {MAX_LINE}",
                line.len()
            )));
        }
        let trimmed = line.trim();
        if continued {
            continued = trimmed.ends_with('\\');
            continue;
        }
        if trimmed.is_empty() || trimmed.starts_with('#') || trimmed.starts_with(';') {
            continue;
        }
        if let Some(rest) = trimmed.strip_prefix('[') {
            let name = rest.strip_suffix(']').ok_or_else(|| {
                error(format!(
                    "section header {trimmed:?} is not closed by ']' at the end of the line"
                ))
            })?;
            if name.is_empty() || name.contains(['[', ']']) {
                return Err(error(format!("section header {trimmed:?} is malformed")));
            }
            sections.push(name.to_string());
            continue;
        }
        if sections.is_empty() {
            return Err(error(
                "assignment before the first [Section] header".to_string(),
            ));
        }
        let Some((key, _)) = trimmed.split_once('=') else {
            return Err(error(format!(
                "{trimmed:?} is neither Key=value, a [Section], nor a comment"
            )));
        };
        if key.trim().is_empty() {
            return Err(error("assignment without a key".to_string()));
        }
        continued = trimmed.ends_with('\\');
    }
    Ok(sections)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn well_formed_units_parse() {
        let unit = "# c\n[Unit]\nDescription=x\n\n[Service]\nExecStart=/bin/a \\\n  --flag\n[Install]\nWantedBy=multi-user.target\n";
        assert_eq!(
            parse_sections(unit).unwrap(),
            ["Unit", "Service", "Install"]
        );
    }

    #[test]
    fn broken_units_are_located() {
        let cases = [
            ("[Unit\nA=b\n", 1),
            ("A=b\n", 1),
            ("[Unit]\njunk\n", 2),
            ("[Unit] trailing\n", 1),
            ("[Unit]\n=value\n", 2),
            ("[]\n", 1),
        ];
        for (text, line) in cases {
            assert_eq!(
                parse_sections(text).map_err(|e| e.line),
                Err(line),
                "{text:?}"
            );
        }
        let long = format!("[Unit]\nDescription={}\n", "x".repeat(MAX_LINE));
        assert_eq!(parse_sections(&long).map_err(|e| e.line), Err(2));
    }
}
