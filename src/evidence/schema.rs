//! The committed JSON Schemas (`schema/*.json`) are generated from the output
//! types: `OW_BLESS=1 cargo test --lib schema` rewrites them, and without it
//! the test fails when a type and its committed schema differ.

/// Compares (or, with `OW_BLESS=1`, writes) one committed schema.
#[cfg(test)]
pub(crate) fn check_committed(file: &str, mut schema: schemars::Schema) {
    schema.insert(
        "$id".into(),
        format!("https://ops-warden.invalid/schema/{file}").into(),
    );
    let text = serde_json::to_string_pretty(&schema).unwrap() + "\n";
    let path = format!("{}/schema/{file}", env!("CARGO_MANIFEST_DIR"));
    if std::env::var_os("OW_BLESS").is_some() {
        std::fs::write(&path, &text).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == text,
        "{file} differs from the schema generated from its types: \
         run `OW_BLESS=1 cargo test --lib schema` and review the diff"
    );
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_evidence_schema_is_generated_from_its_types() {
        let schema = schemars::generate::SchemaSettings::draft2020_12()
            .into_generator()
            .into_root_schema_for::<super::super::Document>();
        super::check_committed("evidence.v1.schema.json", schema);
    }

    #[test]
    fn the_audit_verify_schema_is_generated_from_its_types() {
        let schema = schemars::generate::SchemaSettings::draft2020_12()
            .into_generator()
            .into_root_schema_for::<crate::audit::verify::VerifyReport>();
        super::check_committed("audit-verify.v1.schema.json", schema);
    }

    #[test]
    fn the_audit_correlate_schema_is_generated_from_its_types() {
        let schema = schemars::generate::SchemaSettings::draft2020_12()
            .into_generator()
            .into_root_schema_for::<crate::audit::correlate::CorrelateReport>();
        super::check_committed("audit-correlate.v1.schema.json", schema);
    }
}
