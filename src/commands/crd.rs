//! `crd`: the CRDs as YAML, rendered from the Rust types; `crd adopt`: the chart's hook that
//! takes CRDs no Helm release owns into the release being installed or upgraded.
//!
//! The hook replaces such a CRD with the chart's rendering instead of only labelling it, because
//! Helm checks that every object a release renders is absent or already the release's *before*
//! it runs any pre-install or pre-upgrade hook: the chart must leave an unowned CRD out of that
//! release (it finds out with `lookup`), so this hook is what upgrades it. From the next
//! `helm upgrade` on the CRD is in the release's manifest like any other object
//! (charts/appflow-connector-operator/README.md, "Upgrade").

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use kube::api::{Api, PostParams};
use kube::core::{ApiResource, DynamicObject, GroupVersionKind};
use kube::{Client, ResourceExt};

use crate::cli::{AdoptArgs, CrdAction, CrdArgs, CrdName};
use conninfo_core::check::input::parse_stream;
use conninfo_core::crd;

/// Helm's ownership marks: an object carrying all three for a release is that release's.
pub const MANAGED_BY_LABEL: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_HELM: &str = "Helm";
pub const RELEASE_NAME_ANNOTATION: &str = "meta.helm.sh/release-name";
pub const RELEASE_NAMESPACE_ANNOTATION: &str = "meta.helm.sh/release-namespace";

/// Replacing a CRD that changed since it was read is retried this many times in all.
const ATTEMPTS: usize = 5;

/// `crd [NAME]` prints; `crd adopt` talks to the cluster.
pub async fn command(args: CrdArgs) -> ExitCode {
    match args.action {
        Some(CrdAction::Adopt(adopt)) => adopt_command(&adopt).await,
        None => match render(args.name) {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot render the CRD: {e}");
                ExitCode::FAILURE
            }
        },
    }
}

/// The named CRD, or both as one multi-document stream (`crd | kubectl apply -f -`).
pub fn render(name: Option<CrdName>) -> Result<String, serde_yaml_ng::Error> {
    Ok(match name {
        Some(CrdName::Connectorinfos) => crd::crd_yaml()?,
        Some(CrdName::Appflowaccounts) => crd::account_crd_yaml()?,
        None => format!("{}---\n{}", crd::crd_yaml()?, crd::account_crd_yaml()?),
    })
}

#[derive(Debug, thiserror::Error)]
pub enum AdoptError {
    #[error("cannot read {path}: {source}", path = path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Parse(String),
    #[error("{path} holds no CustomResourceDefinition", path = path.display())]
    NoCrd { path: PathBuf },
    #[error("cannot reach the cluster: {0}")]
    Cluster(#[source] kube::Error),
    #[error("{crd}: {source}")]
    Api {
        crd: String,
        #[source]
        source: kube::Error,
    },
    #[error(
        "{crd} belongs to Helm release {namespace}/{release}: one release per cluster installs \
         the CRDs; give this one --set crds.install=false"
    )]
    OwnedByAnother {
        crd: String,
        release: String,
        namespace: String,
    },
    #[error("{crd} kept changing while it was being replaced ({ATTEMPTS} attempts)")]
    KeptChanging { crd: String },
}

/// The release that takes the CRDs over.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Release {
    pub name: String,
    pub namespace: String,
}

/// Whose a live CRD is, by Helm's marks.
#[derive(Debug, PartialEq, Eq)]
pub enum Ownership {
    Absent,
    /// All three marks name this release.
    ThisRelease,
    /// The release-name annotation names another release (or namespace).
    Another {
        release: String,
        namespace: String,
    },
    /// No release's, or marked incompletely (Helm would refuse it just the same).
    Nobody,
}

/// What `crd adopt` did to one CRD.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Absent,
    AlreadyOwned,
    Adopted,
}

/// Pure: whose `live` is, as Helm would judge it for `release`.
pub fn ownership(live: Option<&DynamicObject>, release: &Release) -> Ownership {
    let Some(live) = live else {
        return Ownership::Absent;
    };
    let annotation = |key: &str| live.annotations().get(key).cloned().unwrap_or_default();
    let (name, namespace) = (
        annotation(RELEASE_NAME_ANNOTATION),
        annotation(RELEASE_NAMESPACE_ANNOTATION),
    );
    let helm = live.labels().get(MANAGED_BY_LABEL).map(String::as_str) == Some(MANAGED_BY_HELM);
    if name.is_empty() {
        Ownership::Nobody
    } else if name != release.name || namespace != release.namespace {
        Ownership::Another {
            release: name,
            namespace,
        }
    } else if helm {
        Ownership::ThisRelease
    } else {
        Ownership::Nobody
    }
}

/// Pure: `live` with `desired`'s spec, and `desired`'s labels and annotations plus Helm's
/// ownership marks for `release` laid over its own. Everything else of `live`'s metadata stays,
/// and its resource version makes the replace fail if the CRD changed meanwhile. The whole spec
/// is replaced, not patched: a field the older CRD had and this one dropped must go.
pub fn adopted(live: &DynamicObject, desired: &DynamicObject, release: &Release) -> DynamicObject {
    let mut object = live.clone();
    object.data["spec"] = desired.data["spec"].clone();
    // Sent back as read, managed fields would overwrite the server's record of who set what.
    object.metadata.managed_fields = None;
    let labels = object.labels_mut();
    labels.extend(desired.labels().clone());
    labels.insert(MANAGED_BY_LABEL.to_owned(), MANAGED_BY_HELM.to_owned());
    let annotations = object.annotations_mut();
    annotations.extend(desired.annotations().clone());
    annotations.insert(RELEASE_NAME_ANNOTATION.to_owned(), release.name.clone());
    annotations.insert(
        RELEASE_NAMESPACE_ANNOTATION.to_owned(),
        release.namespace.clone(),
    );
    object
}

/// Pure: the CustomResourceDefinitions of a YAML stream, by name, in order.
pub fn parse_crds(path: &Path, text: &str) -> Result<Vec<DynamicObject>, AdoptError> {
    let (mut documents, mut errors) = (Vec::new(), Vec::new());
    parse_stream(
        Some(path.display().to_string()),
        text,
        &mut documents,
        &mut errors,
    );
    if let Some(error) = errors.first() {
        return Err(AdoptError::Parse(format!(
            "{}: {}",
            error.location(),
            error.message
        )));
    }
    let crds = documents
        .into_iter()
        .map(|document| {
            let is_crd = document.value["apiVersion"] == "apiextensions.k8s.io/v1"
                && document.value["kind"] == "CustomResourceDefinition";
            let object = is_crd
                .then(|| serde_json::from_value::<DynamicObject>(document.value))
                .and_then(Result::ok)
                .filter(|crd| crd.metadata.name.is_some());
            object.ok_or_else(|| {
                AdoptError::Parse(format!(
                    "{}: not a named apiextensions.k8s.io/v1 CustomResourceDefinition",
                    document.source.location()
                ))
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if crds.is_empty() {
        return Err(AdoptError::NoCrd {
            path: path.to_owned(),
        });
    }
    Ok(crds)
}

async fn adopt_command(args: &AdoptArgs) -> ExitCode {
    match adopt(args).await {
        Ok(outcomes) => {
            let release = format!("{}/{}", args.release_namespace, args.release_name);
            for (crd, outcome) in outcomes {
                match outcome {
                    Outcome::Absent => println!("{crd}: absent; the release creates it"),
                    Outcome::AlreadyOwned => println!("{crd}: already release {release}'s"),
                    Outcome::Adopted => println!("{crd}: adopted into release {release}"),
                }
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Every CRD of the file, in order; stops at the first failure.
pub async fn adopt(args: &AdoptArgs) -> Result<Vec<(String, Outcome)>, AdoptError> {
    let text = std::fs::read_to_string(&args.file).map_err(|source| AdoptError::Read {
        path: args.file.clone(),
        source,
    })?;
    let desired = parse_crds(&args.file, &text)?;
    let release = Release {
        name: args.release_name.clone(),
        namespace: args.release_namespace.clone(),
    };
    let client = Client::try_default().await.map_err(AdoptError::Cluster)?;
    let gvk = GroupVersionKind::gvk("apiextensions.k8s.io", "v1", "CustomResourceDefinition");
    let api: Api<DynamicObject> = Api::all_with(
        client,
        &ApiResource::from_gvk_with_plural(&gvk, "customresourcedefinitions"),
    );
    let mut outcomes = Vec::new();
    for crd in &desired {
        let outcome = adopt_one(&api, crd, &release).await?;
        outcomes.push((crd.name_any(), outcome));
    }
    Ok(outcomes)
}

/// One CRD: read, judge, replace if it is nobody's; read again when it changed meanwhile.
async fn adopt_one(
    api: &Api<DynamicObject>,
    desired: &DynamicObject,
    release: &Release,
) -> Result<Outcome, AdoptError> {
    let name = desired.name_any();
    let failed = |source| AdoptError::Api {
        crd: name.clone(),
        source,
    };
    for _ in 0..ATTEMPTS {
        let live = api.get_opt(&name).await.map_err(failed)?;
        match ownership(live.as_ref(), release) {
            Ownership::Absent => return Ok(Outcome::Absent),
            Ownership::ThisRelease => return Ok(Outcome::AlreadyOwned),
            Ownership::Another { release, namespace } => {
                return Err(AdoptError::OwnedByAnother {
                    crd: name,
                    release,
                    namespace,
                });
            }
            Ownership::Nobody => {}
        }
        let Some(live) = live else {
            return Ok(Outcome::Absent);
        };
        let object = adopted(&live, desired, release);
        match api.replace(&name, &PostParams::default(), &object).await {
            Ok(_) => return Ok(Outcome::Adopted),
            Err(kube::Error::Api(status)) if status.code == 409 => continue,
            Err(e) => return Err(failed(e)),
        }
    }
    Err(AdoptError::KeptChanging { crd: name })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::collections::BTreeMap;

    fn string_map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    fn release() -> Release {
        Release {
            name: "appflow".to_owned(),
            namespace: "appflow-system".to_owned(),
        }
    }

    fn crd(
        labels: &[(&str, &str)],
        annotations: &[(&str, &str)],
        spec: serde_json::Value,
    ) -> DynamicObject {
        serde_json::from_value(json!({
            "apiVersion": "apiextensions.k8s.io/v1",
            "kind": "CustomResourceDefinition",
            "metadata": {
                "name": "connectorinfos.appflow.connectorinfo.dev",
                "labels": string_map(labels),
                "annotations": string_map(annotations),
            },
            "spec": spec,
        }))
        .expect("crd")
    }

    const OWNED: [(&str, &str); 2] = [
        (RELEASE_NAME_ANNOTATION, "appflow"),
        (RELEASE_NAMESPACE_ANNOTATION, "appflow-system"),
    ];
    const HELM: [(&str, &str); 1] = [(MANAGED_BY_LABEL, MANAGED_BY_HELM)];

    #[test]
    fn ownership_is_judged_as_helm_judges_it() {
        let release = release();
        assert_eq!(ownership(None, &release), Ownership::Absent);
        let ours = crd(&HELM, &OWNED, json!({}));
        assert_eq!(ownership(Some(&ours), &release), Ownership::ThisRelease);
        // An older chart's crds/ (or kubectl) left no marks.
        assert_eq!(
            ownership(Some(&crd(&[], &[], json!({}))), &release),
            Ownership::Nobody
        );
        // Annotated but not labelled: Helm refuses it as well, so it is adopted.
        assert_eq!(
            ownership(Some(&crd(&[], &OWNED, json!({}))), &release),
            Ownership::Nobody
        );
        let theirs = crd(
            &HELM,
            &[
                (RELEASE_NAME_ANNOTATION, "appflow"),
                (RELEASE_NAMESPACE_ANNOTATION, "team-b"),
            ],
            json!({}),
        );
        assert_eq!(
            ownership(Some(&theirs), &release),
            Ownership::Another {
                release: "appflow".to_owned(),
                namespace: "team-b".to_owned()
            }
        );
    }

    #[test]
    fn an_adopted_crd_gets_the_charts_spec_and_marks_and_keeps_its_own_metadata() {
        let mut live = crd(
            &[("team", "platform")],
            &[("kubectl.kubernetes.io/last-applied-configuration", "{}")],
            json!({"versions": [{"name": "v1alpha1", "storage": true}], "dropped": true}),
        );
        live.metadata.resource_version = Some("42".to_owned());
        live.metadata.managed_fields = Some(Vec::new());
        live.data["status"] = json!({"storedVersions": ["v1alpha1"]});
        let desired = crd(
            &[("app.kubernetes.io/part-of", "appflow-connector-operator")],
            &[("helm.sh/resource-policy", "keep")],
            json!({"versions": [{"name": "v1alpha1"}, {"name": "v1beta1", "storage": true}]}),
        );
        let object = adopted(&live, &desired, &release());
        assert_eq!(
            object.data["spec"], desired.data["spec"],
            "replaced, not merged"
        );
        assert_eq!(object.data["status"], live.data["status"]);
        assert_eq!(object.metadata.resource_version.as_deref(), Some("42"));
        assert_eq!(object.metadata.managed_fields, None);
        assert_eq!(
            object.labels(),
            &string_map(&[
                ("app.kubernetes.io/part-of", "appflow-connector-operator"),
                (MANAGED_BY_LABEL, MANAGED_BY_HELM),
                ("team", "platform"),
            ])
        );
        assert_eq!(
            object.annotations(),
            &string_map(&[
                ("helm.sh/resource-policy", "keep"),
                ("kubectl.kubernetes.io/last-applied-configuration", "{}"),
                (RELEASE_NAME_ANNOTATION, "appflow"),
                (RELEASE_NAMESPACE_ANNOTATION, "appflow-system"),
            ])
        );
        assert_eq!(ownership(Some(&object), &release()), Ownership::ThisRelease);
    }

    #[test]
    fn the_file_must_hold_named_crds_only() {
        let path = Path::new("crds.yaml");
        let both = render(None).expect("render");
        let crds = parse_crds(path, &both).expect("both CRDs");
        let names: Vec<String> = crds.iter().map(ResourceExt::name_any).collect();
        assert_eq!(
            names,
            [
                "connectorinfos.appflow.connectorinfo.dev",
                "appflowaccounts.appflow.connectorinfo.dev"
            ]
        );
        for (text, expected) in [
            ("", "holds no CustomResourceDefinition"),
            ("---\n# nothing\n", "holds no CustomResourceDefinition"),
            (
                "kind: ConfigMap\napiVersion: v1\nmetadata: {name: x}\n",
                "crds.yaml:1: not a named",
            ),
            (
                "apiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\nspec: {}\n",
                "not a named",
            ),
            ("a: [\n", "crds.yaml:1: not valid YAML"),
        ] {
            let error = parse_crds(path, text).expect_err(text).to_string();
            assert!(error.contains(expected), "{text:?}: {error}");
        }
    }
}
