//! A CycloneDX 1.5 SBOM of the crates compiled into the release binary.
//!
//! Made from `cargo tree -p guard -e normal --target TARGET` (cargo's own
//! resolution for exactly that build: the binary's features, the target's
//! platform-specific dependencies, no dev- or build-dependencies) with
//! proc-macro crates and everything below them left out (they run in the
//! compiler, not in the binary), and the crates' checksums from Cargo.lock.
//! Reproducible: no serial number, the commit's time as the timestamp,
//! sorted components, no build paths.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::Command;

use anyhow::Context as _;

/// One crate in the binary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Crate {
    pub name: String,
    pub version: String,
    pub license: String,
    pub repository: String,
}

impl Crate {
    fn purl(&self) -> String {
        format!("pkg:cargo/{}@{}", self.name, self.version)
    }
}

/// Dependency edges: purl -> the purls it depends on.
pub type Edges = BTreeMap<String, BTreeSet<String>>;

/// The crates and dependency edges (by purl) under the root of `tree`,
/// the output of `cargo tree --no-dedupe --prefix depth -f '{p}\t{l}\t{r}'`.
pub fn parse_tree(tree: &str) -> anyhow::Result<(Vec<Crate>, Edges)> {
    let mut crates: BTreeMap<String, Crate> = BTreeMap::new();
    let mut edges = Edges::new();
    // The purl of the last included crate at each depth.
    let mut stack: Vec<String> = Vec::new();
    // Below a proc-macro at this depth, everything is skipped.
    let mut skip_below: Option<usize> = None;
    for line in tree.lines().filter(|l| !l.trim().is_empty()) {
        let digits = line.chars().take_while(char::is_ascii_digit).count();
        let depth: usize = line[..digits]
            .parse()
            .with_context(|| format!("cargo tree line without depth: {line}"))?;
        if let Some(d) = skip_below {
            if depth > d {
                continue;
            }
            skip_below = None;
        }
        let mut fields = line[digits..].split('\t');
        let package = fields.next().unwrap_or_default();
        let license = fields.next().unwrap_or_default().trim().to_owned();
        let repository = fields
            .next()
            .unwrap_or_default()
            .trim()
            .trim_end_matches("(*)")
            .trim()
            .to_owned();
        if package.contains("(proc-macro)") {
            skip_below = Some(depth);
            continue;
        }
        let mut words = package.split_whitespace();
        let name = words.next().context("cargo tree line without a package")?;
        let version = words
            .next()
            .and_then(|v| v.strip_prefix('v'))
            .with_context(|| format!("cargo tree line without a version: {line}"))?;
        let krate = Crate {
            name: name.to_owned(),
            version: version.to_owned(),
            license,
            repository,
        };
        let purl = krate.purl();
        stack.truncate(depth);
        if let Some(parent) = stack.last() {
            edges
                .entry(parent.clone())
                .or_default()
                .insert(purl.clone());
        }
        edges.entry(purl.clone()).or_default();
        stack.push(purl.clone());
        crates.entry(purl).or_insert(krate);
    }
    Ok((crates.into_values().collect(), edges))
}

/// `name@version -> sha256` of the registry crates in Cargo.lock.
pub fn lock_checksums(lock: &str) -> BTreeMap<String, String> {
    let mut sums = BTreeMap::new();
    for package in lock.split("[[package]]") {
        let field = |key: &str| {
            package.lines().find_map(|l| {
                l.strip_prefix(key)?
                    .trim()
                    .strip_prefix('=')?
                    .trim()
                    .strip_prefix('"')?
                    .strip_suffix('"')
                    .map(str::to_owned)
            })
        };
        if let (Some(name), Some(version), Some(sum)) =
            (field("name"), field("version"), field("checksum"))
        {
            sums.insert(format!("{name}@{version}"), sum);
        }
    }
    sums
}

/// The SBOM document.
pub fn document(
    crates: &[Crate],
    edges: &Edges,
    checksums: &BTreeMap<String, String>,
    root: &Crate,
    target: &str,
    created: Option<&str>,
) -> serde_json::Value {
    let licenses = |l: &str| {
        if l.is_empty() {
            serde_json::Value::Null
        } else {
            // Old manifests write "MIT/Apache-2.0"; SPDX says "MIT OR Apache-2.0".
            serde_json::json!([{"expression": l.replace('/', " OR ")}])
        }
    };
    let component = |c: &Crate, kind: &str| {
        let mut value = serde_json::json!({
            "type": kind,
            "bom-ref": c.purl(),
            "name": c.name,
            "version": c.version,
            "purl": c.purl(),
        });
        if !c.license.is_empty() {
            value["licenses"] = licenses(&c.license);
        }
        if let Some(sum) = checksums.get(&format!("{}@{}", c.name, c.version)) {
            value["hashes"] = serde_json::json!([{"alg": "SHA-256", "content": sum}]);
        }
        if !c.repository.is_empty() {
            value["externalReferences"] = serde_json::json!([{"type": "vcs", "url": c.repository}]);
        }
        value
    };
    let mut metadata = serde_json::json!({
        "tools": {"components": [{"type": "application", "name": "cargo xtask dist"}]},
        "component": component(root, "application"),
        "properties": [
            {"name": "cdx:reproducible", "value": "true"},
            {"name": "cdx:rustc:sbom:target:triple", "value": target},
        ],
    });
    if let Some(t) = created {
        metadata["timestamp"] = t.into();
    }
    let root_purl = root.purl();
    serde_json::json!({
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": metadata,
        "components": crates
            .iter()
            .filter(|c| c.purl() != root_purl)
            .map(|c| component(c, "library"))
            .collect::<Vec<_>>(),
        "dependencies": edges
            .iter()
            .map(|(from, to)| serde_json::json!({"ref": from, "dependsOn": to}))
            .collect::<Vec<_>>(),
    })
}

/// Writes the SBOM of package `guard` built for `target` in `root` to `to`.
pub fn write(root: &Path, target: &str, to: &Path, created: Option<&str>) -> anyhow::Result<()> {
    let tree = super::output(
        Command::new(super::cargo())
            .args([
                "tree",
                "--locked",
                "--package",
                "guard",
                "--edges",
                "normal",
            ])
            .args(["--target", target, "--no-dedupe", "--prefix", "depth"])
            .args(["--format", "{p}\t{l}\t{r}"])
            .current_dir(root),
    )?;
    let (crates, edges) = parse_tree(&tree)?;
    let root_crate = crates
        .iter()
        .find(|c| c.name == "guard")
        .context("cargo tree does not list guard")?
        .clone();
    let lock = std::fs::read_to_string(root.join("Cargo.lock"))?;
    let doc = document(
        &crates,
        &edges,
        &lock_checksums(&lock),
        &root_crate,
        target,
        created,
    );
    let mut text = serde_json::to_vec_pretty(&super::image::sorted(doc))?;
    text.push(b'\n');
    std::fs::write(to, text).with_context(|| format!("cannot write {}", to.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const TREE: &str = "0guard v0.1.0 (/somewhere/crates/guard)\tApache-2.0\t\n\
1clap v4.6.9\tMIT OR Apache-2.0\thttps://github.com/clap-rs/clap\n\
2clap_derive v4.6.9 (proc-macro)\tMIT OR Apache-2.0\thttps://github.com/clap-rs/clap\n\
3syn v3.0.10\tMIT OR Apache-2.0\thttps://github.com/dtolnay/syn\n\
4unicode-ident v1.0.27\t(MIT OR Apache-2.0) AND Unicode-3.0\t\n\
2strsim v0.11.1\tMIT/Apache-2.0\t\n\
1guard-api v0.1.0 (/somewhere/crates/guard-api)\tApache-2.0\t\n\
2strsim v0.11.1\tMIT/Apache-2.0\t (*)\n";

    #[test]
    fn proc_macros_and_their_dependencies_are_left_out() -> anyhow::Result<()> {
        let (crates, edges) = parse_tree(TREE)?;
        let names: Vec<&str> = crates.iter().map(|c| c.name.as_str()).collect();
        assert_eq!(names, ["clap", "guard-api", "guard", "strsim"]);
        assert_eq!(
            edges["pkg:cargo/clap@4.6.9"],
            BTreeSet::from(["pkg:cargo/strsim@0.11.1".to_owned()])
        );
        assert_eq!(
            edges["pkg:cargo/guard@0.1.0"],
            BTreeSet::from([
                "pkg:cargo/clap@4.6.9".to_owned(),
                "pkg:cargo/guard-api@0.1.0".to_owned()
            ])
        );
        Ok(())
    }

    #[test]
    fn the_document_has_no_paths_and_spdx_licenses() -> anyhow::Result<()> {
        let (crates, edges) = parse_tree(TREE)?;
        let sums = lock_checksums(
            "[[package]]\nname = \"clap\"\nversion = \"4.6.9\"\nchecksum = \"abc\"\n",
        );
        let root = crates
            .iter()
            .find(|c| c.name == "guard")
            .cloned()
            .unwrap_or_else(|| crates[0].clone());
        let doc = document(
            &crates,
            &edges,
            &sums,
            &root,
            "x",
            Some("2024-01-01T00:00:00Z"),
        );
        let text = doc.to_string();
        assert!(!text.contains("/somewhere"), "{text}");
        assert!(text.contains("MIT OR Apache-2.0"));
        assert!(!text.contains("MIT/Apache"));
        assert_eq!(doc["components"][0]["hashes"][0]["content"], "abc");
        assert_eq!(doc["metadata"]["component"]["name"], "guard");
        assert_eq!(doc["components"].as_array().map(Vec::len), Some(3));
        Ok(())
    }
}
