//! The manifest draft and widget seed: parsed and checked before any
//! network call, and the manifest's canonical digest.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::error::Error;
use crate::os::files::{read_trusted, Rule};

/// The checked seeds.
#[derive(Debug, Clone)]
pub struct Seeds {
    pub hub: String,
    pub name: String,
    pub description: String,
    pub scopes: Vec<String>,
    /// The manifest document as posted.
    pub manifest: Value,
    pub digest: String,
    pub widget_types: Vec<String>,
    pub event_types: Vec<String>,
    pub annotation_categories: Vec<String>,
    pub widgets: Vec<Widget>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Widget {
    pub key: String,
    pub kind: String,
    pub title: String,
    pub config: Value,
}

fn bad(m: impl Into<String>) -> Error {
    Error::SeedInvalid(m.into())
}

fn vocab_key(k: &str) -> bool {
    k.starts_with("ops.")
        && k.len() <= 128
        && k.len() > 4
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"-._".contains(&b))
}

fn slug(k: &str) -> bool {
    !k.is_empty()
        && k.len() <= 64
        && k.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

fn text<'a>(v: &'a Value, key: &str, ctx: &str) -> Result<&'a str, Error> {
    v.get(key)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| bad(format!("{ctx}: \"{key}\" must be a non-empty string")))
}

/// Reads both seed files (trusted-file checks) and validates them.
/// `lane_uid`: the config's lane user, whose files are trusted too.
pub fn load(
    manifest: &Path,
    widgets: &Path,
    hub: &str,
    lane_uid: Option<u32>,
) -> Result<Seeds, Error> {
    let read = |p: &Path, what: &'static str| -> Result<Value, Error> {
        let rule = Rule::CONFIG.named(what).trusting(lane_uid);
        let bytes = read_trusted(p, rule).map_err(Error::FileUntrusted)?;
        serde_json::from_slice(&bytes)
            .map_err(|e| bad(format!("{}: does not parse: {e}", p.display())))
    };
    parse(
        read(manifest, "manifest")?,
        read(widgets, "widget seed")?,
        hub,
    )
}

/// Validates parsed seeds for `hub`.
pub fn parse(manifest: Value, widgets: Value, hub: &str) -> Result<Seeds, Error> {
    if !manifest.is_object() {
        return Err(bad("manifest: must be a JSON object"));
    }
    let m_hub = text(&manifest, "hub", "manifest")?;
    if m_hub != hub {
        return Err(bad(format!(
            "manifest: hub is {m_hub:?}, the config names {hub:?}"
        )));
    }
    let name = text(&manifest, "name", "manifest")?.to_string();
    text(&manifest, "version", "manifest")?;
    let description = manifest
        .get("description")
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string();
    let scopes: Vec<String> = manifest
        .get("scopes")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("manifest: \"scopes\" must be a list"))?
        .iter()
        .map(|s| {
            s.as_str()
                .map(String::from)
                .ok_or_else(|| bad("manifest: scopes must be strings"))
        })
        .collect::<Result<_, _>>()?;
    for need in [format!("hub:{hub}:read"), format!("hub:{hub}:write")] {
        if !scopes.contains(&need) {
            return Err(bad(format!("manifest: scopes must include {need}")));
        }
    }
    if let Some(s) = scopes
        .iter()
        .find(|s| !s.starts_with(&format!("hub:{hub}:")))
    {
        return Err(bad(format!("manifest: scope {s:?} is outside hub {hub}")));
    }
    let vocab = |field: &str, needs_schema: bool| -> Result<Vec<String>, Error> {
        let items = manifest
            .get(field)
            .and_then(Value::as_array)
            .ok_or_else(|| bad(format!("manifest: \"{field}\" must be a list")))?;
        let mut seen = BTreeSet::new();
        for (i, it) in items.iter().enumerate() {
            let ctx = format!("manifest {field}[{i}]");
            let key = text(it, "key", &ctx)?;
            if !vocab_key(key) {
                return Err(bad(format!(
                    "{ctx}: key {key:?} must start with \"ops.\" ([a-z0-9._-])"
                )));
            }
            if !seen.insert(key.to_string()) {
                return Err(bad(format!("{ctx}: key {key:?} defined twice")));
            }
            if needs_schema && !it.get("schema").is_some_and(Value::is_object) {
                return Err(bad(format!(
                    "{ctx}: \"schema\" must be a JSON schema object"
                )));
            }
            if !needs_schema {
                text(it, "label", &ctx)?;
            }
        }
        Ok(seen.into_iter().collect())
    };
    let widget_types = vocab("widgetTypes", true)?;
    let event_types = vocab("eventTypes", true)?;
    let annotation_categories = vocab("annotationCategories", false)?;

    let w_hub = text(&widgets, "hub", "widget seed")?;
    if w_hub != hub {
        return Err(bad(format!(
            "widget seed: hub is {w_hub:?}, expected {hub:?}"
        )));
    }
    let mut seen = BTreeSet::new();
    let mut list = Vec::new();
    for (i, w) in widgets
        .get("widgets")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("widget seed: \"widgets\" must be a list"))?
        .iter()
        .enumerate()
    {
        let ctx = format!("widget seed widgets[{i}]");
        let key = text(w, "key", &ctx)?;
        if !slug(key) {
            return Err(bad(format!("{ctx}: key {key:?} must be a lowercase slug")));
        }
        if !seen.insert(key.to_string()) {
            return Err(bad(format!("{ctx}: key {key:?} defined twice")));
        }
        let kind = text(w, "type", &ctx)?;
        if !widget_types.iter().any(|t| t == kind) {
            return Err(bad(format!(
                "{ctx}: type {kind:?} is not a widget type of the manifest"
            )));
        }
        let config = w
            .get("config")
            .cloned()
            .unwrap_or(Value::Object(Default::default()));
        if !config.is_object() {
            return Err(bad(format!("{ctx}: \"config\" must be an object")));
        }
        list.push(Widget {
            key: key.into(),
            kind: kind.into(),
            title: text(w, "title", &ctx)?.into(),
            config,
        });
    }
    let digest = digest(&manifest);
    Ok(Seeds {
        hub: hub.into(),
        name,
        description,
        scopes,
        manifest,
        digest,
        widget_types,
        event_types,
        annotation_categories,
        widgets: list,
    })
}

/// `sha256:` + hex SHA-256 of the canonical JSON (sorted keys, no whitespace).
pub fn digest(v: &Value) -> String {
    let mut out = String::new();
    canonical(v, &mut out);
    format!("sha256:{}", crate::text::sha256_hex(out.as_bytes()))
}

/// Canonical JSON written explicitly (independent of serde_json's map order).
pub fn canonical(v: &Value, out: &mut String) {
    match v {
        Value::Object(m) => {
            let mut keys: Vec<&String> = m.keys().collect();
            keys.sort();
            out.push('{');
            for (i, k) in keys.into_iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                out.push_str(&Value::String(k.clone()).to_string());
                out.push(':');
                canonical(&m[k], out);
            }
            out.push('}');
        }
        Value::Array(a) => {
            out.push('[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                canonical(x, out);
            }
            out.push(']');
        }
        other => out.push_str(&other.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn shipped() -> (Value, Value) {
        let root = env!("CARGO_MANIFEST_DIR");
        let m =
            std::fs::read_to_string(format!("{root}/seeds/ops-hub-manifest.draft.json")).unwrap();
        let w = std::fs::read_to_string(format!("{root}/seeds/ops-hub-widgets.seed.json")).unwrap();
        (
            serde_json::from_str(&m).unwrap(),
            serde_json::from_str(&w).unwrap(),
        )
    }

    #[test]
    fn shipped_seeds_are_valid() {
        let (m, w) = shipped();
        let s = parse(m, w, "ops-hub").unwrap();
        assert!(s.event_types.contains(&"ops.gitea.readiness".to_string()));
        assert!(s.widgets.iter().any(|w| w.key == "gitea-readiness"));
        assert!(s.digest.starts_with("sha256:") && s.digest.len() == 71);
    }

    #[test]
    fn bad_seeds_are_refused() {
        let (m, w) = shipped();
        let mut w2 = w.clone();
        w2["widgets"][0]["type"] = json!("ops.nope");
        assert!(parse(m.clone(), w2, "ops-hub")
            .unwrap_err()
            .to_string()
            .contains("not a widget type"));
        let mut m2 = m.clone();
        m2["eventTypes"][0]["key"] = json!("gitea.readiness");
        assert!(parse(m2, w.clone(), "ops-hub")
            .unwrap_err()
            .to_string()
            .contains("must start with"));
        assert_eq!(
            parse(json!([1]), w.clone(), "ops-hub").unwrap_err().code(),
            "seed-invalid"
        );
        assert!(parse(m, w, "other-hub").is_err());
    }

    #[test]
    fn digest_is_canonical() {
        let a = json!({"b": 1, "a": {"y": [1, "x"], "x": null}});
        let mut s = String::new();
        canonical(&a, &mut s);
        assert_eq!(s, r#"{"a":{"x":null,"y":[1,"x"]},"b":1}"#);
        let b: Value =
            serde_json::from_str("{ \"a\" : {\"y\":[1,\"x\"],\"x\":null}, \"b\":1 }").unwrap();
        assert_eq!(digest(&a), digest(&b));
    }
}
