//! `/metrics` over HTTPS behind the API server's authentication and authorization, on the
//! real kube-apiserver: the operator reviews each bearer token with a TokenReview and a
//! SubjectAccessReview (non-resource URL `/metrics`, verb `get`), the way kubebuilder's
//! secure metrics do. Service accounts get their tokens from the TokenRequest API
//! (`kubectl create token`); the reader's role is the `-metrics-reader` ClusterRole the
//! chart ships, taken from deploy/manifests (rendered from the chart).

use std::path::Path;
use std::sync::Arc;

use serde::Deserialize;
use serde_json::Value;

use super::cluster::{Cluster, REPO};

const NAMESPACE: &str = "scrapers";
const READER_ROLE: &str = "appflow-connector-operator-metrics-reader";

/// An HTTPS client that answers every status (401 and 403 are what is tested) and trusts
/// `roots`, or, without, any certificate (the operator's own is self-signed).
pub(super) fn https_client(roots: Option<Vec<ureq::tls::Certificate<'static>>>) -> ureq::Agent {
    let tls = match roots {
        Some(roots) => ureq::tls::TlsConfig::builder()
            .root_certs(ureq::tls::RootCerts::Specific(Arc::new(roots)))
            .build(),
        None => ureq::tls::TlsConfig::builder()
            .disable_verification(true)
            .build(),
    };
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(tls)
        .build()
        .into()
}

/// GET `url` with `token` as a bearer token: the status and the body.
pub(super) fn scrape(agent: &ureq::Agent, url: &str, token: Option<&str>) -> (u16, String) {
    let mut request = agent.get(url);
    if let Some(token) = token {
        request = request.header("Authorization", &format!("Bearer {token}"));
    }
    let mut response = request.call().unwrap_or_else(|e| panic!("GET {url}: {e}"));
    let status = response.status().as_u16();
    (
        status,
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// The value of one series in a scrape (0 when absent).
fn sample(text: &str, series: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse().ok())
        .unwrap_or(0.0)
}

fn reviews(text: &str, result: &str) -> f64 {
    sample(
        text,
        &format!("appflow_connector_operator_metrics_auth_reviews_total{{result=\"{result}\"}}"),
    )
}

/// The chart's metrics-reader ClusterRole as deploy/manifests ships it.
fn reader_role() -> Value {
    let manifests = std::fs::read_to_string(Path::new(REPO).join("deploy/manifests/operator.yaml"))
        .expect("deploy/manifests/operator.yaml");
    serde_yaml_ng::Deserializer::from_str(&manifests)
        .map(|doc| Value::deserialize(doc).expect("YAML document"))
        .find(|o| o["kind"] == "ClusterRole" && o["metadata"]["name"] == READER_ROLE)
        .expect("the metrics-reader ClusterRole in deploy/manifests/operator.yaml")
}

/// Two ServiceAccounts, `prometheus` bound to the reader role and `stranger` to nothing,
/// and a token of each from the TokenRequest API.
pub(super) fn scrapers(cluster: &Cluster) -> (String, String) {
    cluster.create_namespace(NAMESPACE);
    let role = reader_role();
    assert_eq!(
        role["rules"],
        serde_json::json!([{"nonResourceURLs": ["/metrics"], "verbs": ["get"]}])
    );
    let output = cluster.kubectl_stdin(&["apply", "-f", "-"], &role.to_string());
    assert!(output.status.success(), "{output:?}");
    for account in ["prometheus", "stranger"] {
        cluster.kubectl_ok(&["create", "serviceaccount", account, "-n", NAMESPACE]);
    }
    cluster.kubectl_ok(&[
        "create",
        "clusterrolebinding",
        "prometheus-metrics-reader",
        &format!("--clusterrole={READER_ROLE}"),
        &format!("--serviceaccount={NAMESPACE}:prometheus"),
    ]);
    let token = |account: &str| {
        cluster
            .kubectl_ok(&["create", "token", account, "-n", NAMESPACE])
            .trim()
            .to_owned()
    };
    (token("prometheus"), token("stranger"))
}

#[test]
fn metrics_answer_only_a_token_whose_user_may_get_metrics_and_reviews_are_cached() {
    let mut cluster = Cluster::start();
    let (reader, stranger) = scrapers(&cluster);
    cluster.start_operator(&["--metrics-secure=true"]);
    let port = cluster.secure_metrics_port.expect("the HTTPS metrics port");
    let url = format!("https://127.0.0.1:{port}/metrics");
    let agent = https_client(None);

    // No token, a made-up token: 401. A real token without the role: 403.
    let (status, body) = scrape(&agent, &url, None);
    assert_eq!(status, 401, "{body}");
    assert!(!body.contains("appflow_connector_operator_"), "{body}");
    assert_eq!(scrape(&agent, &url, Some("made-up")).0, 401);
    let (status, body) = scrape(&agent, &url, Some(&stranger));
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("appflow_connector_operator_"), "{body}");

    // The reader: 200 with the usual series, and the reviews so far.
    let (status, first) = scrape(&agent, &url, Some(&reader));
    assert_eq!(status, 200, "{first}");
    assert_eq!(
        sample(&first, "appflow_connector_operator_ready"),
        1.0,
        "{first}"
    );
    assert_eq!(reviews(&first, "allowed"), 1.0, "{first}");
    assert_eq!(reviews(&first, "forbidden"), 1.0, "{first}");
    assert_eq!(reviews(&first, "unauthenticated"), 1.0, "{first}");

    // Within the cache time, scrapes and refusals ask the API server nothing new.
    assert_eq!(scrape(&agent, &url, Some(&stranger)).0, 403);
    assert_eq!(scrape(&agent, &url, Some("made-up")).0, 401);
    let (status, second) = scrape(&agent, &url, Some(&reader));
    assert_eq!(status, 200);
    for result in ["allowed", "forbidden", "unauthenticated", "error"] {
        assert_eq!(
            reviews(&second, result),
            reviews(&first, result),
            "{result}"
        );
    }

    // The probes stay plain HTTP without a token; /metrics is not on that port.
    let probes = format!("http://127.0.0.1:{}", cluster.metrics_port);
    assert_eq!(cluster.healthz(), 200);
    assert_eq!(scrape(&agent, &format!("{probes}/readyz"), None).0, 200);
    assert_eq!(scrape(&agent, &format!("{probes}/metrics"), None).0, 404);
    // The token never reaches the log.
    let log = cluster.operator_log();
    assert!(!log.contains(&reader) && !log.contains(&stranger));
}

#[test]
fn a_mounted_certificate_is_served_and_verifies_against_its_ca() {
    let mut cluster = Cluster::start();
    let (reader, _) = scrapers(&cluster);
    let certs = tempfile::tempdir().expect("cert dir");
    let ca = write_serving_certificate(certs.path());
    let dir = certs.path().to_str().expect("utf-8 path");
    cluster.start_operator(&["--metrics-secure=true", "--metrics-cert-dir", dir]);
    let port = cluster.secure_metrics_port.expect("the HTTPS metrics port");
    let url = format!("https://127.0.0.1:{port}/metrics");

    let verified = https_client(Some(vec![ureq::tls::Certificate::from_der(&ca).to_owned()]));
    let (status, body) = scrape(&verified, &url, Some(&reader));
    assert_eq!(status, 200, "{body}");
    assert_eq!(sample(&body, "appflow_connector_operator_ready"), 1.0);
    // A client that trusts only the system's CAs refuses the certificate.
    let system = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .new_agent();
    assert!(system.get(&url).call().is_err(), "not a public certificate");
}

/// A CA and a serving certificate it signs for 127.0.0.1 and localhost, written as
/// tls.crt and tls.key (as a cert-manager Secret holds them); returns the CA's DER.
fn write_serving_certificate(dir: &Path) -> Vec<u8> {
    use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let ca =
        CertifiedIssuer::self_signed(ca_params, KeyPair::generate().expect("CA key")).expect("CA");
    let key = KeyPair::generate().expect("key");
    let cert = CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()])
        .expect("params")
        .signed_by(&key, &ca)
        .expect("certificate");
    std::fs::write(dir.join("tls.crt"), cert.pem()).expect("tls.crt");
    std::fs::write(dir.join("tls.key"), key.serialize_pem()).expect("tls.key");
    ca.der().to_vec()
}
