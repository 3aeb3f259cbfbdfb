//! Pure: which binding serves a namespace, and with which identity and regions, or why none
//! does. The platform team's bindings are the only input a tenant cannot change.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use kube_core::{Selector, SelectorExt};

use super::crd::AppFlowAccount;
use super::identity::{Identity, Role};
use crate::outcome::{Refusal, RefusalCategory};
use crate::policy::AllowedRegions;

/// What happens to a namespace no binding matches (`--unmapped-namespaces`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Unmapped {
    /// Described with the operator's own identity (single-account installs need nothing).
    #[default]
    OperatorIdentity,
    /// Refused: every namespace must be bound by an AppFlowAccount.
    Deny,
}

/// A binding, ready to match namespaces.
#[derive(Clone, Debug)]
pub struct Binding {
    pub name: String,
    names: BTreeSet<String>,
    /// `Err`: the selector cannot be used (the CRD refuses such selectors; this is for objects
    /// stored before a rule existed), so it selects nothing.
    selector: Option<Result<Selector, String>>,
    pub identity: Identity,
    pub regions: AllowedRegions,
}

impl Binding {
    pub fn new(account: &AppFlowAccount) -> Self {
        let spec = &account.spec;
        let identity = match &spec.role_arn {
            Some(arn) => Identity::Role(Role {
                arn: arn.clone(),
                external_id: spec.external_id.clone(),
                session_duration: spec
                    .session_duration_seconds
                    .and_then(|s| u64::try_from(s).ok())
                    .map(Duration::from_secs),
            }),
            None => Identity::Operator,
        };
        Self {
            name: account.metadata.name.clone().unwrap_or_default(),
            names: spec.namespaces.iter().cloned().collect(),
            selector: spec.namespace_selector.as_ref().map(|s| {
                Selector::try_from(
                    k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector::from(s),
                )
                .map_err(|e| e.0)
            }),
            identity,
            regions: AllowedRegions::new(spec.regions.iter().cloned()),
        }
    }

    /// Whether the namespace is bound by name or selected by its labels.
    pub fn matches(&self, namespace: &Namespace) -> bool {
        self.names.contains(namespace.name)
            || matches!(&self.selector, Some(Ok(selector)) if selector.matches(namespace.labels))
    }

    /// Whether a namespace's labels can decide that this binding matches it (a usable
    /// selector); bound by name only, the labels change nothing.
    pub fn selects_by_labels(&self) -> bool {
        matches!(self.selector, Some(Ok(_)))
    }

    /// Why the selector selects nothing, if it cannot be used.
    pub fn selector_problem(&self) -> Option<&str> {
        match &self.selector {
            Some(Err(problem)) => Some(problem),
            _ => None,
        }
    }
}

/// A namespace as bindings see it.
#[derive(Clone, Copy, Debug)]
pub struct Namespace<'a> {
    pub name: &'a str,
    pub labels: &'a BTreeMap<String, String>,
}

/// How an object in a namespace is described.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Access {
    pub identity: Identity,
    /// The binding's regions (any, for the unmapped operator identity).
    pub regions: AllowedRegions,
    /// The binding that decided, if one did.
    pub binding: Option<String>,
}

impl Access {
    /// The operator's own identity, no binding: single-account installs.
    pub fn operator() -> Self {
        Self {
            identity: Identity::Operator,
            regions: AllowedRegions::default(),
            binding: None,
        }
    }

    /// Checks the region an object will be described in against the binding's regions;
    /// the refusal carries the message its conditions show.
    pub fn check_region(
        &self,
        region: Option<&str>,
        default_region: Option<&str>,
    ) -> Result<(), Refusal> {
        let Some(binding) = &self.binding else {
            return Ok(());
        };
        let refused = |message| Err(Refusal::new(RefusalCategory::RegionNotInBinding, message));
        match (region, default_region) {
            (Some(region), _) if !self.regions.allows(Some(region)) => refused(format!(
                "spec.region {region} is not allowed for this namespace by AppFlowAccount {binding}; allowed regions: {}",
                self.regions
            )),
            (None, Some(default)) if !self.regions.allows(Some(default)) => refused(format!(
                "the operator's region {default} is not allowed for this namespace by AppFlowAccount {binding}: set spec.region to one of {}",
                self.regions
            )),
            _ => Ok(()),
        }
    }
}

/// Pure: the access of objects in `namespace`. The refusal is a terminal `InvalidRequest`:
/// two bindings match it, or none does and unmapped namespaces are denied.
pub fn resolve(
    bindings: &[Binding],
    namespace: &Namespace,
    unmapped: Unmapped,
) -> Result<Access, Refusal> {
    let matching: Vec<&Binding> = bindings.iter().filter(|b| b.matches(namespace)).collect();
    match matching.as_slice() {
        [binding] => Ok(Access {
            identity: binding.identity.clone(),
            regions: binding.regions.clone(),
            binding: Some(binding.name.clone()),
        }),
        [] => match unmapped {
            Unmapped::OperatorIdentity => Ok(Access::operator()),
            Unmapped::Deny => Err(unbound(namespace.name)),
        },
        several => Err(conflict(namespace.name, several)),
    }
}

/// No binding for the namespace under `--unmapped-namespaces=deny`.
fn unbound(namespace: &str) -> Refusal {
    Refusal::new(
        RefusalCategory::NamespaceUnbound,
        format!(
            "namespace {namespace} is not bound to an AWS account: no AppFlowAccount names it or selects its labels, and this operator runs with --unmapped-namespaces=deny; ask the platform team for an AppFlowAccount that binds namespace {namespace}"
        ),
    )
}

/// Several bindings for the namespace: none of them decides.
fn conflict(namespace: &str, bindings: &[&Binding]) -> Refusal {
    let names: Vec<&str> = bindings.iter().map(|b| b.name.as_str()).collect();
    Refusal::new(
        RefusalCategory::BindingConflict,
        format!(
            "namespace {namespace} is bound by more than one AppFlowAccount ({}); its ConnectorInfos are described with neither until the platform team leaves exactly one",
            names.join(", ")
        ),
    )
}

/// Pure: for each binding, the namespaces it matches and, of those, the ones another binding
/// matches too (with the other bindings' names).
pub fn matches_and_conflicts<'a>(
    bindings: &'a [Binding],
    namespaces: &[Namespace<'a>],
) -> BTreeMap<&'a str, Matched> {
    let mut result: BTreeMap<&str, Matched> = bindings
        .iter()
        .map(|b| (b.name.as_str(), Matched::default()))
        .collect();
    for namespace in namespaces {
        let matching: Vec<&Binding> = bindings.iter().filter(|b| b.matches(namespace)).collect();
        for binding in &matching {
            let entry = result.entry(binding.name.as_str()).or_default();
            entry.namespaces += 1;
            let others: BTreeSet<String> = matching
                .iter()
                .filter(|other| other.name != binding.name)
                .map(|other| other.name.clone())
                .collect();
            if !others.is_empty() {
                entry.conflicts.insert(namespace.name.to_owned(), others);
            }
        }
    }
    result
}

/// What one binding matches.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Matched {
    pub namespaces: usize,
    /// Namespace -> the other bindings that match it too.
    pub conflicts: BTreeMap<String, BTreeSet<String>>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::account::crd::{
        AppFlowAccountSpec, NamespaceSelector, NamespaceSelectorRequirement, SelectorOperator,
    };

    fn spec() -> AppFlowAccountSpec {
        AppFlowAccountSpec {
            namespaces: vec![],
            namespace_selector: None,
            role_arn: None,
            external_id: None,
            session_duration_seconds: None,
            use_operator_identity: None,
            regions: vec![],
        }
    }

    fn binding(name: &str, edit: impl FnOnce(&mut AppFlowAccountSpec)) -> Binding {
        let mut spec = spec();
        spec.role_arn = Some(format!("arn:aws:iam::222222222222:role/{name}"));
        edit(&mut spec);
        Binding::new(&AppFlowAccount::new(name, spec))
    }

    fn labels(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn names_and_selectors_bind_namespaces() {
        let by_name = binding("team-a", |s| s.namespaces = vec!["team-a".into()]);
        let by_label = binding("team-b", |s| {
            s.namespace_selector = Some(NamespaceSelector {
                match_labels: labels(&[("team", "b")]),
                match_expressions: vec![NamespaceSelectorRequirement {
                    key: "env".into(),
                    operator: SelectorOperator::NotIn,
                    values: vec!["sandbox".into()],
                }],
            })
        });
        assert!(!by_name.selects_by_labels() && by_label.selects_by_labels());
        let bindings = [by_name, by_label];
        let none = labels(&[]);
        let team_b = labels(&[("team", "b")]);
        let sandbox = labels(&[("team", "b"), ("env", "sandbox")]);
        let at = |name, labels| resolve(&bindings, &Namespace { name, labels }, Unmapped::Deny);

        let a = at("team-a", &none).unwrap();
        assert_eq!(a.binding.as_deref(), Some("team-a"));
        assert_eq!(a.identity.known_account(), Some("222222222222"));
        assert_eq!(
            at("b-prod", &team_b).unwrap().binding.as_deref(),
            Some("team-b")
        );
        let denied = at("b-sandbox", &sandbox).unwrap_err();
        assert_eq!(denied.category, RefusalCategory::NamespaceUnbound);
        let denied = denied.message;
        assert_eq!(
            denied,
            "namespace b-sandbox is not bound to an AWS account: no AppFlowAccount names it or selects its labels, and this operator runs with --unmapped-namespaces=deny; ask the platform team for an AppFlowAccount that binds namespace b-sandbox"
        );
        assert!(
            denied.contains("namespace b-sandbox is not bound"),
            "{denied}"
        );
        assert!(denied.contains("--unmapped-namespaces=deny"), "{denied}");
    }

    #[test]
    fn unmapped_namespaces_use_the_operator_identity_unless_denied() {
        let none = labels(&[]);
        let ns = Namespace {
            name: "free",
            labels: &none,
        };
        assert_eq!(
            resolve(&[], &ns, Unmapped::OperatorIdentity),
            Ok(Access::operator())
        );
        assert!(resolve(&[], &ns, Unmapped::Deny).is_err());
    }

    #[test]
    fn a_namespace_matched_twice_is_described_with_neither() {
        let bindings = [
            binding("one", |s| s.namespaces = vec!["shared".into()]),
            binding("two", |s| {
                s.namespace_selector = Some(NamespaceSelector::default())
            }),
        ];
        let none = labels(&[]);
        let shared = Namespace {
            name: "shared",
            labels: &none,
        };
        let other = Namespace {
            name: "other",
            labels: &none,
        };
        let refused = resolve(&bindings, &shared, Unmapped::OperatorIdentity).unwrap_err();
        assert_eq!(refused.category, RefusalCategory::BindingConflict);
        let refused = refused.message;
        assert_eq!(
            refused,
            "namespace shared is bound by more than one AppFlowAccount (one, two); its ConnectorInfos are described with neither until the platform team leaves exactly one"
        );
        assert!(
            refused.contains("more than one AppFlowAccount (one, two)"),
            "{refused}"
        );
        // The empty selector binds every namespace.
        assert_eq!(
            resolve(&bindings, &other, Unmapped::Deny)
                .unwrap()
                .binding
                .as_deref(),
            Some("two")
        );

        let matched = matches_and_conflicts(&bindings, &[shared, other]);
        assert_eq!(matched["one"].namespaces, 1);
        assert_eq!(matched["two"].namespaces, 2);
        assert_eq!(
            matched["one"].conflicts["shared"],
            BTreeSet::from(["two".to_owned()])
        );
        assert_eq!(
            matched["two"].conflicts["shared"],
            BTreeSet::from(["one".to_owned()])
        );
        assert!(!matched["two"].conflicts.contains_key("other"));
    }

    #[test]
    fn operator_identity_bindings_and_regions() {
        let bindings = [binding("eu-only", |s| {
            s.role_arn = None;
            s.use_operator_identity = Some(true);
            s.namespaces = vec!["eu".into()];
            s.regions = vec!["eu-west-1".into(), "eu-central-1".into()];
        })];
        let none = labels(&[]);
        let access = resolve(
            &bindings,
            &Namespace {
                name: "eu",
                labels: &none,
            },
            Unmapped::Deny,
        )
        .unwrap();
        assert_eq!(access.identity, Identity::Operator);
        assert_eq!(
            access.check_region(Some("eu-west-1"), Some("us-east-1")),
            Ok(())
        );
        let refused = access.check_region(Some("us-east-1"), None).unwrap_err();
        assert_eq!(refused.category, RefusalCategory::RegionNotInBinding);
        let refused = refused.message;
        assert_eq!(
            refused,
            "spec.region us-east-1 is not allowed for this namespace by AppFlowAccount eu-only; allowed regions: eu-central-1, eu-west-1"
        );
        assert!(refused.contains("AppFlowAccount eu-only"), "{refused}");
        assert!(refused.contains("eu-central-1, eu-west-1"), "{refused}");
        let refused = access.check_region(None, Some("us-east-1")).unwrap_err();
        assert_eq!(refused.category, RefusalCategory::RegionNotInBinding);
        let refused = refused.message;
        assert_eq!(
            refused,
            "the operator's region us-east-1 is not allowed for this namespace by AppFlowAccount eu-only: set spec.region to one of eu-central-1, eu-west-1"
        );
        assert!(
            refused.contains("the operator's region us-east-1"),
            "{refused}"
        );
        assert_eq!(access.check_region(None, Some("eu-central-1")), Ok(()));
        assert_eq!(
            Access::operator().check_region(Some("ap-south-1"), None),
            Ok(())
        );
    }

    #[test]
    fn an_unusable_selector_selects_nothing_and_says_why() {
        let mut spec = spec();
        spec.role_arn = Some("arn:aws:iam::222222222222:role/x".into());
        spec.namespace_selector = Some(NamespaceSelector {
            match_labels: BTreeMap::new(),
            match_expressions: vec![NamespaceSelectorRequirement {
                key: "team".into(),
                operator: SelectorOperator::In,
                values: vec![],
            }],
        });
        let broken = Binding::new(&AppFlowAccount::new("broken", spec));
        assert!(broken.selector_problem().is_some());
        let team = labels(&[("team", "x")]);
        assert!(!broken.matches(&Namespace {
            name: "x",
            labels: &team
        }));
    }
}
