//! Functions deployed already (`--use-endpoints FILE`): an endpoints file says where each proxy is.

use std::collections::HashMap;
use std::path::Path;

use crate::{DeployError, EndpointEntry};

/// The entries of the endpoints file `path` for `proxies`, in their order: each proxy must have one
/// entry, and an entry one proxy; entries of other proxies are left out.
pub fn endpoints(path: &Path, proxies: &[&str]) -> Result<Vec<EndpointEntry>, DeployError> {
    let invalid = |reason: String| DeployError::Config {
        path: path.to_owned(),
        reason,
    };
    let entries = formats::endpoints::read(path).map_err(|e| match e {
        formats::endpoints::EndpointsError::Io { path, source } => DeployError::Io { path, source },
        formats::endpoints::EndpointsError::Json { reason, .. } => invalid(reason),
    })?;
    let mut of_proxy = HashMap::new();
    for (i, entry) in entries.iter().enumerate() {
        if entry.proxy.is_empty() {
            return Err(invalid(format!(
                "[{i}].proxy: missing; --use-endpoints needs each entry's proxy"
            )));
        }
        if let Some(first) = of_proxy.insert(entry.proxy.as_str(), i) {
            return Err(invalid(format!(
                "[{i}].proxy: `{}` has an entry already, [{first}]",
                entry.proxy
            )));
        }
    }
    let missing: Vec<&str> = proxies
        .iter()
        .copied()
        .filter(|name| !of_proxy.contains_key(name))
        .collect();
    if !missing.is_empty() {
        return Err(invalid(format!(
            "no entry for {} of the load's {} proxies: {}",
            missing.len(),
            proxies.len(),
            some_names(&missing)
        )));
    }
    Ok(proxies
        .iter()
        .map(|p| entries[of_proxy[p]].clone())
        .collect())
}

/// Up to five names, then how many more.
fn some_names(names: &[&str]) -> String {
    let shown = names
        .iter()
        .take(5)
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ");
    match names.len().saturating_sub(5) {
        0 => shown,
        more => format!("{shown}, and {more} more"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_proxy_takes_its_entry_and_one_without_is_named() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("given.json");
        let entry = |proxy: &str| EndpointEntry::deployed(proxy, format!("http://{proxy}/"), None);
        let all: Vec<EndpointEntry> = ["a", "b", "c"].map(entry).to_vec();
        formats::endpoints::write(&path, &all).unwrap();
        let got = endpoints(&path, &["c", "a"]).unwrap();
        assert_eq!(got, [entry("c"), entry("a")]);
        let wanted: Vec<String> = (0..8).map(|k| format!("p{k}")).collect();
        let wanted: Vec<&str> = wanted.iter().map(String::as_str).collect();
        let e = endpoints(&path, &wanted).unwrap_err().to_string();
        assert!(
            e.contains("given.json: no entry for 8 of the load's 8 proxies: `p0`, `p1`, `p2`, `p3`, `p4`, and 3 more"),
            "{e}"
        );
        formats::endpoints::write(&path, &[entry("a"), entry("a")]).unwrap();
        let e = endpoints(&path, &["a"]).unwrap_err().to_string();
        assert!(
            e.contains("[1].proxy: `a` has an entry already, [0]"),
            "{e}"
        );
    }
}
