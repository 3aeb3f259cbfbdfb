//! What the previous release (hack/upgrade/previous-release) left in a cluster still works
//! with this one, without a cluster: every object its CRDs accept, these accept; a status it
//! wrote deserializes whole and is not rewritten while nothing changed. The fixtures in
//! tests/fixtures/release-0.1.0/ are that release's CRDs and statuses its `describe` computed
//! against the emulator for the samples it shipped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use conninfo_core::admission;
use conninfo_core::crd::ConnectorInfo;
use conninfo_core::status::{self, Observation, Origin};
use conninfo_core::versions;
use serde::Deserialize;
use serde_json::Value;

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/release-0.1.0")
}

/// The previous release's objects, each with the status it wrote.
fn objects() -> Vec<(String, Value)> {
    let mut objects: Vec<_> = std::fs::read_dir(fixtures().join("objects"))
        .expect("tests/fixtures/release-0.1.0/objects")
        .map(|entry| entry.expect("entry").path())
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("fixture");
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            (name, serde_json::from_str(&text).expect("fixture json"))
        })
        .collect();
    objects.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(objects.len() >= 5, "the previous release's samples");
    objects
}

/// The schema each version of a CRD serves, by version name.
fn schemas(crd: &Value) -> Vec<(String, Value)> {
    crd["spec"]["versions"]
        .as_array()
        .expect("versions")
        .iter()
        .map(|v| {
            (
                v["name"].as_str().unwrap_or_default().to_owned(),
                v["schema"].clone(),
            )
        })
        .collect()
}

#[test]
fn the_new_crds_serve_the_previous_schema_in_every_version() {
    let text = std::fs::read_to_string(fixtures().join("crds.yaml")).expect("previous CRDs");
    let previous: Vec<Value> = serde_yaml_ng::Deserializer::from_str(&text)
        .map(|doc| Value::deserialize(doc).expect("CRD"))
        .collect();
    let current = [
        serde_json::to_value(versions::connector_info_crd()).expect("CRD"),
        serde_json::to_value(versions::account_crd()).expect("CRD"),
    ];
    for (old, new) in previous.iter().zip(&current) {
        assert_eq!(old["metadata"]["name"], new["metadata"]["name"]);
        let old = schemas(old);
        assert_eq!(old.len(), 1, "the previous release served one version");
        // Identical schemas accept identical objects: whatever the previous CRDs admitted, each
        // served version admits. A schema change must prove that again (and update this test).
        for (version, schema) in schemas(new) {
            assert_eq!(schema, old[0].1, "{version} of {}", new["metadata"]["name"]);
        }
    }
}

#[test]
fn objects_the_previous_release_wrote_are_admitted_and_read_whole() {
    for (name, object) in objects() {
        assert_eq!(
            object["apiVersion"], "appflow.connectorinfo.dev/v1alpha1",
            "{name}"
        );
        let mut spec_only = object.clone();
        if let Some(fields) = spec_only.as_object_mut() {
            fields.remove("status");
        }
        admission::admit(&spec_only).unwrap_or_else(|e| panic!("{name}: {e}"));
        let read: ConnectorInfo = serde_json::from_value(object.clone()).expect(&name);
        let status = serde_json::to_value(&read.status).expect("status");
        assert_eq!(
            status, object["status"],
            "{name}: every field read and written back"
        );
    }
}

#[test]
fn a_status_the_previous_release_wrote_is_not_rewritten_while_nothing_changed() {
    for (name, object) in objects() {
        let read: ConnectorInfo = serde_json::from_value(object).expect(&name);
        let previous = read.status.as_ref().expect("a status");
        let outcome = match &previous.connector_configuration {
            Some(config) => Ok((**config).clone()),
            None => continue, // a refused object: nothing described to compare
        };
        let synced = previous
            .last_synced_time
            .as_ref()
            .expect("lastSyncedTime")
            .0;
        let computed = status::compute(&Observation {
            generation: previous.observed_generation,
            spec: &read.spec,
            refresh_request: None,
            previous: Some(previous),
            outcome: &outcome,
            refresh_interval: Duration::from_secs(3600),
            stalled_after: Duration::from_secs(600),
            now: synced
                .checked_add(jiff::SignedDuration::from_secs(60))
                .expect("a minute later"),
            origin: Origin {
                account_id: previous.account_id.as_deref(),
                binding: previous.account_binding.as_deref(),
            },
        });
        assert_eq!(
            &computed.status, previous,
            "{name}: rewritten with nothing changed"
        );
        assert!(computed.events.is_empty(), "{name}: {:?}", computed.events);
    }
}
