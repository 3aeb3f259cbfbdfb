//! The cluster a command talks to: a kubeconfig file and context, or the usual inference.

use std::path::Path;

/// The kubeconfig and context asked for, or the usual inference (KUBECONFIG, ~/.kube/config,
/// then the in-cluster service account, as in a hook Job).
pub async fn config(
    kubeconfig: Option<&Path>,
    context: Option<&str>,
) -> Result<kube::Config, kube::Error> {
    let options = kube::config::KubeConfigOptions {
        context: context.map(str::to_owned),
        ..Default::default()
    };
    let config = match (kubeconfig, context) {
        (Some(path), _) => {
            let kubeconfig =
                kube::config::Kubeconfig::read_from(path).map_err(kube::Error::InferKubeconfig)?;
            kube::Config::from_custom_kubeconfig(kubeconfig, &options).await
        }
        (None, Some(_)) => kube::Config::from_kubeconfig(&options).await,
        (None, None) => {
            return kube::Config::infer()
                .await
                .map_err(kube::Error::InferConfig);
        }
    };
    config.map_err(kube::Error::InferKubeconfig)
}
