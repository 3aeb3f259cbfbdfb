//! The serving certificate of the HTTPS `/metrics` server: read from `tls.crt` and `tls.key`
//! in `--metrics-cert-dir` (a cert-manager Secret the chart mounts) and re-read when they
//! change, or generated self-signed at start when no directory is given (scrapers then
//! skip verification, as kubebuilder's default ServiceMonitor does). rustls on aws-lc-rs,
//! the provider the Kubernetes and AWS clients already link.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant, SystemTime};

use tokio_rustls::rustls::crypto::CryptoProvider;
use tokio_rustls::rustls::pki_types::pem::{self, PemObject};
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};

/// The file names cert-manager and `kubectl create secret tls` use.
pub const CERT_FILE: &str = "tls.crt";
pub const KEY_FILE: &str = "tls.key";
/// How often the files' modification times are looked at (on a handshake, not by a timer).
const RECHECK: Duration = Duration::from_secs(10);
/// The self-signed certificate's names: enough for a port-forward or a loopback scrape.
const SELF_SIGNED_NAMES: [&str; 2] = ["localhost", "127.0.0.1"];

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the metrics certificate {}: {source}", path.display())]
    Pem {
        path: PathBuf,
        #[source]
        source: pem::Error,
    },
    #[error("the metrics certificate {} holds no certificate", path.display())]
    NoCertificate { path: PathBuf },
    #[error("the metrics certificate and key in {} do not make a usable pair: {source}", dir.display())]
    Unusable {
        dir: PathBuf,
        #[source]
        source: rustls::Error,
    },
    #[error("cannot generate a self-signed metrics certificate: {0}")]
    Generate(#[from] rcgen::Error),
    #[error("cannot use the self-signed metrics certificate: {0}")]
    SelfSigned(#[source] rustls::Error),
    #[error("cannot build the TLS configuration: {0}")]
    Config(#[source] rustls::Error),
}

/// The HTTPS server's configuration: HTTP/1.1 (what the router speaks), TLS 1.2 and 1.3.
pub fn server_config(cert_dir: Option<&Path>) -> Result<Arc<ServerConfig>, TlsError> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let resolver: Arc<dyn ResolvesServerCert> = match cert_dir {
        Some(dir) => Arc::new(ReloadingCert::load(dir, provider.clone(), RECHECK)?),
        None => Arc::new(FixedCert(Arc::new(self_signed(&provider)?))),
    };
    config_with(provider, resolver)
}

fn config_with(
    provider: Arc<CryptoProvider>,
    resolver: Arc<dyn ResolvesServerCert>,
) -> Result<Arc<ServerConfig>, TlsError> {
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(TlsError::Config)?
        .with_no_client_auth()
        .with_cert_resolver(resolver);
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A fresh key pair and a certificate it signs itself, for `localhost` and 127.0.0.1.
fn self_signed(provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let names: Vec<String> = SELF_SIGNED_NAMES.iter().map(|n| (*n).to_owned()).collect();
    let generated = rcgen::generate_simple_self_signed(names)?;
    let key = PrivateKeyDer::Pkcs8(generated.signing_key.serialize_der().into());
    CertifiedKey::from_der(vec![generated.cert.der().clone()], key, provider)
        .map_err(TlsError::SelfSigned)
}

/// The generated certificate, the same for every handshake.
#[derive(Debug)]
struct FixedCert(Arc<CertifiedKey>);

impl ResolvesServerCert for FixedCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

/// `tls.crt` (the chain, leaf first) and `tls.key` (PKCS#8, PKCS#1 or SEC1) in one directory.
#[derive(Debug)]
struct CertFiles {
    dir: PathBuf,
}

impl CertFiles {
    fn cert(&self) -> PathBuf {
        self.dir.join(CERT_FILE)
    }

    fn key(&self) -> PathBuf {
        self.dir.join(KEY_FILE)
    }

    fn read(&self, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
        let cert = self.cert();
        let unreadable = |path: &Path| {
            let path = path.to_path_buf();
            move |source| TlsError::Pem { path, source }
        };
        let chain = CertificateDer::pem_file_iter(&cert)
            .map_err(unreadable(&cert))?
            .collect::<Result<Vec<_>, _>>()
            .map_err(unreadable(&cert))?;
        if chain.is_empty() {
            return Err(TlsError::NoCertificate { path: cert });
        }
        let key_path = self.key();
        let key = PrivateKeyDer::from_pem_file(&key_path).map_err(unreadable(&key_path))?;
        CertifiedKey::from_der(chain, key, provider).map_err(|source| TlsError::Unusable {
            dir: self.dir.clone(),
            source,
        })
    }

    /// Both files' modification times (a mounted Secret's update swaps a symlink, which
    /// `metadata` follows), or `None` while either is missing.
    fn modified(&self) -> Option<(SystemTime, SystemTime)> {
        let modified = |path: PathBuf| std::fs::metadata(path).and_then(|m| m.modified()).ok();
        Some((modified(self.cert())?, modified(self.key())?))
    }
}

/// The files' certificate, re-read when their modification times change, so a renewed
/// certificate is served without a restart. A renewal caught half-written keeps the last
/// good pair until the next look.
#[derive(Debug)]
struct ReloadingCert {
    files: CertFiles,
    provider: Arc<CryptoProvider>,
    recheck: Duration,
    state: Mutex<Loaded>,
}

#[derive(Debug)]
struct Loaded {
    key: Arc<CertifiedKey>,
    modified: Option<(SystemTime, SystemTime)>,
    checked: Instant,
}

impl ReloadingCert {
    fn load(
        dir: &Path,
        provider: Arc<CryptoProvider>,
        recheck: Duration,
    ) -> Result<Self, TlsError> {
        let files = CertFiles {
            dir: dir.to_path_buf(),
        };
        let modified = files.modified();
        let key = Arc::new(files.read(&provider)?);
        Ok(Self {
            files,
            provider,
            recheck,
            state: Mutex::new(Loaded {
                key,
                modified,
                checked: Instant::now(),
            }),
        })
    }

    fn current(&self) -> Arc<CertifiedKey> {
        let mut state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        if state.checked.elapsed() >= self.recheck {
            state.checked = Instant::now();
            let modified = self.files.modified();
            if modified != state.modified {
                match self.files.read(&self.provider) {
                    Ok(key) => {
                        tracing::info!(dir = %self.files.dir.display(), "metrics certificate reloaded");
                        state.key = Arc::new(key);
                        state.modified = modified;
                    }
                    Err(error) => {
                        tracing::warn!(%error, "keeping the previous metrics certificate");
                    }
                }
            }
        }
        state.key.clone()
    }
}

impl ResolvesServerCert for ReloadingCert {
    fn resolve(&self, _: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

#[cfg(test)]
#[path = "tls_tests.rs"]
mod tests;
