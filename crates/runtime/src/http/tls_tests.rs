use std::fs::File;
use std::net::SocketAddr;

use axum::Router;
use axum::routing::get;
use rcgen::{BasicConstraints, CertificateParams, CertifiedIssuer, IsCa, KeyPair};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::ServerName;
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

use super::*;
use crate::http::TlsListener;

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

fn certificate_authority() -> CertifiedIssuer<'static, KeyPair> {
    let mut params = CertificateParams::new(Vec::<String>::new()).expect("params");
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    CertifiedIssuer::self_signed(params, KeyPair::generate().expect("key")).expect("CA")
}

/// A serving certificate for `localhost` from `ca`, as PEM (certificate, key).
fn issue(ca: &CertifiedIssuer<'static, KeyPair>) -> (String, String) {
    let key = KeyPair::generate().expect("key");
    let params = CertificateParams::new(vec!["localhost".to_owned()]).expect("params");
    let cert = params.signed_by(&key, ca).expect("signed");
    (cert.pem(), key.serialize_pem())
}

fn write_pair(dir: &Path, (cert, key): &(String, String), modified: SystemTime) {
    for (name, text) in [(CERT_FILE, cert), (KEY_FILE, key)] {
        std::fs::write(dir.join(name), text).expect("write");
        let file = File::options()
            .write(true)
            .open(dir.join(name))
            .expect("open");
        file.set_modified(modified).expect("set mtime");
    }
}

fn trusting(cert: &CertificateDer<'static>) -> RootCertStore {
    let mut roots = RootCertStore::empty();
    roots.add(cert.clone()).expect("root");
    roots
}

/// Serves a one-route router over HTTPS with `config` on a loopback port.
async fn serve(config: Arc<ServerConfig>) -> SocketAddr {
    let listener = TlsListener::bind("127.0.0.1:0".parse().expect("addr"), config)
        .await
        .expect("bind");
    let addr = axum::serve::Listener::local_addr(&listener).expect("addr");
    let router = Router::new().route("/metrics", get(|| async { "the_metric 1\n" }));
    tokio::spawn(async move { axum::serve(listener, router).await });
    addr
}

/// GET /metrics over TLS for `localhost`, verified against `roots`.
async fn get_metrics(addr: SocketAddr, roots: RootCertStore) -> std::io::Result<String> {
    let config = ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("name");
    let mut tls = TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    tls.write_all(b"GET /metrics HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
        .await?;
    let mut answer = String::new();
    tls.read_to_string(&mut answer).await?;
    Ok(answer)
}

#[tokio::test]
async fn the_generated_certificate_serves_https_for_localhost() {
    let provider = provider();
    let generated = Arc::new(self_signed(&provider).expect("generated"));
    let roots = trusting(&generated.cert[0]);
    let config = config_with(provider.clone(), Arc::new(FixedCert(generated))).expect("config");
    assert_eq!(config.alpn_protocols, [b"http/1.1".to_vec()]);
    let addr = serve(config).await;
    let answer = get_metrics(addr, roots).await.expect("HTTPS answer");
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert!(answer.ends_with("the_metric 1\n"), "{answer}");
    // Each start generates its own key: no two installations share one.
    let again = || self_signed(&provider).expect("generated").cert[0].clone();
    assert_ne!(again(), again());
    assert!(server_config(None).is_ok());
}

#[tokio::test]
async fn a_certificate_from_the_directory_is_served_and_verifies_against_its_ca() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = certificate_authority();
    write_pair(dir.path(), &issue(&ca), SystemTime::now());
    let config = server_config(Some(dir.path())).expect("config");
    let addr = serve(config).await;
    let answer = get_metrics(addr, trusting(ca.der())).await.expect("HTTPS");
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    // A client trusting another CA refuses the server.
    let stranger = certificate_authority();
    assert!(get_metrics(addr, trusting(stranger.der())).await.is_err());
}

#[test]
fn a_renewed_certificate_is_picked_up_and_a_half_written_one_is_not() {
    let dir = tempfile::tempdir().expect("tempdir");
    let ca = certificate_authority();
    let (first, renewed) = (issue(&ca), issue(&ca));
    let start = SystemTime::now() - Duration::from_secs(3600);
    write_pair(dir.path(), &first, start);
    let files = ReloadingCert::load(dir.path(), provider(), Duration::ZERO).expect("load");
    let served = |files: &ReloadingCert| files.current().cert[0].clone();
    let first_der = served(&files);
    assert_eq!(
        served(&files),
        first_der,
        "unchanged files: the same certificate"
    );

    std::fs::write(
        dir.path().join(CERT_FILE),
        "-----BEGIN CERTIFICATE-----\ngarbage",
    )
    .expect("write");
    assert_eq!(
        served(&files),
        first_der,
        "a broken renewal keeps the last good pair"
    );

    write_pair(dir.path(), &renewed, start + Duration::from_secs(60));
    let renewed_der = served(&files);
    assert_ne!(renewed_der, first_der, "the renewal is served");
    let expected = CertificateDer::from_pem_slice(renewed.0.as_bytes()).expect("pem");
    assert_eq!(renewed_der, expected);
}

#[test]
fn unusable_files_are_typed_errors_naming_the_path() {
    let dir = tempfile::tempdir().expect("tempdir");
    let missing = server_config(Some(dir.path())).expect_err("no files");
    assert!(
        matches!(&missing, TlsError::Pem { path, .. } if path.ends_with(CERT_FILE)),
        "{missing}"
    );
    assert!(missing.to_string().contains(CERT_FILE), "{missing}");

    let ca = certificate_authority();
    let (cert, _) = issue(&ca);
    let (_, other_key) = issue(&ca);
    write_pair(dir.path(), &(cert, other_key), SystemTime::now());
    let mismatched = server_config(Some(dir.path())).expect_err("mismatched");
    assert!(
        matches!(mismatched, TlsError::Unusable { .. }),
        "{mismatched}"
    );

    let (_, key) = issue(&ca);
    write_pair(
        dir.path(),
        &("# no certificate here\n".to_owned(), key),
        SystemTime::now(),
    );
    let empty = server_config(Some(dir.path())).expect_err("no certificate");
    assert!(matches!(empty, TlsError::NoCertificate { .. }), "{empty}");
}
