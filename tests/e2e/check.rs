//! `check` against the real API server: its offline verdict on every fixture equals the API
//! server's own; `--from-cluster` and `kubectl wait --for=condition=RequirementsMet` gate on
//! what the operator wrote; the binary works as the kubectl plugin `kubectl conninfo`; the
//! Argo CD PostSync hook example is a valid set of objects.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

use super::cluster::{BIN, Cluster, REPO};
use conninfo_test_support::check_report::{EXPECTED, assert_matches_documented_schema, outcomes};

const NAMESPACE: &str = "gitops";

fn fixtures() -> PathBuf {
    Path::new(REPO).join("tests/fixtures/check")
}

/// `check` with the cluster's kubeconfig in the environment, run from the fixtures directory.
fn check(cluster: &Cluster, args: &[&str]) -> Output {
    Command::new(BIN)
        .current_dir(fixtures())
        .arg("check")
        .args(args)
        .env("KUBECONFIG", cluster.control_plane.kubeconfig())
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .output()
        .expect("run check")
}

fn report(output: &Output) -> Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Every ConnectorInfo document of the fixture repository, by name, as JSON.
fn fixture_objects() -> BTreeMap<String, Value> {
    let (documents, errors) =
        conninfo_core::check::input::read_paths(&[fixtures().join("repo")], &mut std::io::empty());
    assert!(errors.is_empty(), "{errors:?}");
    documents
        .into_iter()
        .filter(|d| conninfo_core::admission::is_connector_info(&d.value))
        .map(|d| {
            let name = d.value["metadata"]["name"]
                .as_str()
                .expect("name")
                .to_owned();
            (name, d.value)
        })
        .collect()
}

#[test]
fn offline_verdicts_equal_the_api_servers_and_the_argocd_hook_is_admitted() {
    let cluster = Cluster::start();
    cluster.create_namespace(NAMESPACE);

    // The offline verdict of every fixture equals the API server's (a server-side dry run
    // with kubectl's default strict field validation), and names the field it names.
    let offline = check(&cluster, &["repo", "--offline", "-o", "json"]);
    let offline = report(&offline);
    assert_matches_documented_schema(&offline);
    let verdicts = outcomes(&offline);
    let objects = fixture_objects();
    assert_eq!(objects.len(), verdicts.len());
    let mut valid = Vec::new();
    for (name, object) in &objects {
        let dry_run = cluster.kubectl_stdin(
            &["create", "--dry-run=server", "-n", NAMESPACE, "-f", "-"],
            &object.to_string(),
        );
        let api_server = String::from_utf8_lossy(&dry_run.stderr).into_owned();
        let ours = &verdicts[name];
        assert_eq!(
            dry_run.status.success(),
            ours == "Valid",
            "{name}: API server {api_server:?}, check {ours}"
        );
        if ours == "Valid" {
            valid.push(name.clone());
            continue;
        }
        let result = offline["results"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["name"] == name.as_str())
            .unwrap();
        for error in result["errors"].as_array().unwrap() {
            let field = error.as_str().unwrap().split(": ").next().unwrap();
            assert!(
                api_server.contains(field),
                "{name}: the API server does not name {field}: {api_server}"
            );
        }
    }
    assert_eq!(valid.len(), EXPECTED.len());
    assert_eq!(
        valid,
        admitted_fixtures(),
        "the fixtures the API server admits are those `check` expects an outcome for"
    );

    // The Argo CD PostSync hook example is a valid set of objects for this API server.
    let hook = std::fs::read_to_string(Path::new(REPO).join("deploy/argocd/postsync-check.yaml"))
        .expect("hook example");
    let dry_run = cluster.kubectl_stdin(
        &[
            "apply",
            "--dry-run=server",
            "--validate=strict",
            "-n",
            NAMESPACE,
            "-f",
            "-",
        ],
        &hook,
    );
    assert!(
        dry_run.status.success(),
        "{}",
        String::from_utf8_lossy(&dry_run.stderr)
    );
}

/// The fixtures `check` expects an outcome for: those the API server admits (the test above
/// proves it), by name in order.
fn admitted_fixtures() -> Vec<String> {
    let mut names: Vec<String> = EXPECTED
        .iter()
        .map(|(name, _)| (*name).to_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn check_and_kubectl_wait_gate_on_the_operators_status() {
    let mut cluster = Cluster::start();
    cluster.create_namespace(NAMESPACE);

    // 1. Apply what the API server admits; the operator describes it.
    cluster.start_operator(&[]);
    let objects = fixture_objects();
    for name in admitted_fixtures() {
        cluster.apply(NAMESPACE, &objects[&name].to_string());
    }
    cluster.kubectl_ok(&[
        "wait",
        "-n",
        NAMESPACE,
        "conninfo/acme-crm-source",
        "--for=condition=RequirementsMet",
        "--timeout=60s",
    ]);
    // The gate holds for a connector that misses a requirement, and opens on the False side.
    cluster.kubectl_ok(&[
        "wait",
        "-n",
        NAMESPACE,
        "conninfo/slack-destination",
        "--for=condition=RequirementsMet=False",
        "--timeout=60s",
    ]);
    let blocked = cluster.kubectl(&[
        "wait",
        "-n",
        NAMESPACE,
        "conninfo/slack-destination",
        "--for=condition=RequirementsMet",
        "--timeout=2s",
    ]);
    assert!(!blocked.status.success(), "the gate must not open");

    // 2. --from-cluster judges what the operator wrote: the same verdicts as describing.
    let mut live = Value::Null;
    cluster.eventually("every object observed", || {
        live = report(&check(
            &cluster,
            &["--from-cluster", "-n", NAMESPACE, "-o", "json"],
        ));
        live["summary"]["outcomes"]["Pending"] == 0 && live["summary"]["checked"] == EXPECTED.len()
    });
    assert_matches_documented_schema(&live);
    assert_eq!(live["mode"], "cluster");
    let found = outcomes(&live);
    for (name, outcome) in EXPECTED {
        assert_eq!(found[*name], *outcome, "{name}: {live:#}");
    }
    // The Flux example's health expressions say the same of the live objects.
    let (current, failed) = flux_health_exprs();
    for (name, outcome) in [
        ("acme-crm-source", (true, false)),
        ("slack-destination", (false, true)),
    ] {
        let object = cluster.get(NAMESPACE, name);
        assert_eq!(
            (eval_cel(&current, &object), eval_cel(&failed, &object)),
            outcome,
            "{name}: {object:#}"
        );
    }

    // Named by manifests (the PostSync use), with organisation-wide requirements.
    let named = check(
        &cluster,
        &[
            "--from-cluster",
            "-n",
            NAMESPACE,
            "repo/apps/crm",
            "--require",
            "usableAs=Source",
            "-o",
            "json",
        ],
    );
    assert_eq!(
        named.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&named.stdout)
    );
    let named = report(&named);
    assert_eq!(
        named["results"][0]["file"],
        "repo/apps/crm/connectorinfos.yaml"
    );
    assert_eq!(named["summary"]["passed"], 2);

    // 3. The same binary as the kubectl plugin `kubectl conninfo`.
    let plugins = tempfile::tempdir().expect("tempdir");
    std::os::unix::fs::symlink(BIN, plugins.path().join("kubectl-conninfo")).expect("symlink");
    let kubectl = cluster.control_plane.kubectl().get_program().to_owned();
    let path = format!(
        "{}:{}",
        plugins.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let plugin = Command::new(&kubectl)
        .args(["conninfo", "check", "--from-cluster", "-n", NAMESPACE])
        .env("PATH", &path)
        .env("KUBECONFIG", cluster.control_plane.kubeconfig())
        .output()
        .expect("kubectl conninfo");
    let table = String::from_utf8_lossy(&plugin.stdout);
    assert_eq!(
        plugin.status.code(),
        Some(1),
        "{table}{}",
        String::from_utf8_lossy(&plugin.stderr)
    );
    assert!(
        table
            .lines()
            .any(|l| l.contains("gitops/slack-destination") && l.contains("RequirementsNotMet")),
        "{table}"
    );
    let help = Command::new(&kubectl)
        .args(["conninfo", "--help"])
        .env("PATH", &path)
        .output()
        .expect("kubectl conninfo --help");
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("Usage: kubectl conninfo"), "{help}");
    eprintln!("kubectl conninfo check --from-cluster -n {NAMESPACE}\n{table}");
}

/// The `current` and `failed` expressions of deploy/flux/kustomization.yaml.
fn flux_health_exprs() -> (String, String) {
    let text = std::fs::read_to_string(Path::new(REPO).join("deploy/flux/kustomization.yaml"))
        .expect("flux example");
    let first: Value = serde_yaml_ng::Deserializer::from_str(&text)
        .next()
        .map(|d| serde::Deserialize::deserialize(d).expect("yaml"))
        .expect("a document");
    let exprs = &first["spec"]["healthCheckExprs"][0];
    assert_eq!(exprs["kind"], "ConnectorInfo");
    (
        exprs["current"].as_str().expect("current").to_owned(),
        exprs["failed"].as_str().expect("failed").to_owned(),
    )
}

/// Evaluates a Flux health expression the way Flux does: the object's top-level fields
/// (`metadata`, `spec`, `status`) are the variables.
fn eval_cel(expression: &str, object: &Value) -> bool {
    use kube::core::cel::cel::{Context, Program, Value as CelValue};
    let program = Program::compile(expression).expect("expression compiles");
    let mut context = Context::default();
    for field in ["metadata", "spec", "status"] {
        context
            .add_variable(field, object[field].clone())
            .expect("variable");
    }
    match program.execute(&context).expect("expression evaluates") {
        CelValue::Bool(b) => b,
        other => panic!("{expression} gave {other:?}"),
    }
}
