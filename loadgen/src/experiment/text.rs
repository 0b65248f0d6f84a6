//! Where things are in an experiment file's text: a key's line, a header's line, an offset's line; and
//! a TOML scalar as a command line writes it. Every error about the file names its line with these.

/// The 1-based line of `key` in `[section]` (0 when not found: the error then names the file only).
pub(crate) fn line_of(text: &str, section: &str, key: &str) -> usize {
    let mut current = String::new();
    for (i, line) in text.lines().enumerate() {
        let t = line.trim();
        if let Some(name) = t.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
            current = name.trim().to_owned();
            continue;
        }
        if current != section {
            continue;
        }
        if let Some((k, _)) = t.split_once('=') {
            let k = k.trim().trim_matches('"').trim_matches('\'');
            if k == key {
                return i + 1;
            }
        }
    }
    0
}

/// The line of a byte offset.
pub(crate) fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// A scalar TOML value as a command line writes it; `None` for arrays and tables.
pub(crate) fn scalar(v: &toml::Value) -> Option<String> {
    Some(match v {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => b.to_string(),
        _ => return None,
    })
}

/// The 1-based line of the header `[section]` (0 when not found).
pub(crate) fn header_line(text: &str, section: &str) -> usize {
    text.lines()
        .position(|l| l.trim() == format!("[{section}]"))
        .map_or(0, |i| i + 1)
}
