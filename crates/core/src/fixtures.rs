//! Builders for test objects, so that a test names only what it is about. Compiled for this
//! crate's tests and, with the `fixtures` feature, for the other crates' tests (through
//! `conninfo-test-support`); never in the operator.

use serde::Serialize;

use crate::account::crd::NamespaceSelector;
use crate::account::{AppFlowAccount, AppFlowAccountSpec, AppFlowAccountStatus};
use crate::crd::{
    AuthMode, ConnectorInfo, ConnectorInfoSpec, ConnectorInfoStatus, ConnectorType, Requirements,
    Usage,
};
use crate::interval::RefreshInterval;

/// A spec naming only a connector type.
pub fn spec(connector_type: ConnectorType) -> ConnectorInfoSpec {
    ConnectorInfoSpec {
        connector_type,
        connector_label: None,
        region: None,
        refresh_interval: None,
        requirements: None,
    }
}

/// A ConnectorInfo named `name` for `connector_type`, in no namespace, at generation 1.
pub fn connector_info(name: &str, connector_type: ConnectorType) -> ConnectorInfoBuilder {
    ConnectorInfoBuilder(ConnectorInfo::new(name, spec(connector_type))).generation(1)
}

pub struct ConnectorInfoBuilder(ConnectorInfo);

/// An existing object (one the API server answered with, say) edited through the builder.
impl From<ConnectorInfo> for ConnectorInfoBuilder {
    fn from(object: ConnectorInfo) -> Self {
        ConnectorInfoBuilder(object)
    }
}

impl ConnectorInfoBuilder {
    pub fn namespace(mut self, namespace: &str) -> Self {
        self.0.metadata.namespace = Some(namespace.to_owned());
        self
    }

    pub fn uid(mut self, uid: &str) -> Self {
        self.0.metadata.uid = Some(uid.to_owned());
        self
    }

    pub fn generation(mut self, generation: i64) -> Self {
        self.0.metadata.generation = Some(generation);
        self
    }

    pub fn label(mut self, label: &str) -> Self {
        self.0.spec.connector_label = Some(label.to_owned());
        self
    }

    pub fn region(mut self, region: &str) -> Self {
        self.0.spec.region = Some(region.to_owned());
        self
    }

    pub fn refresh_interval(mut self, interval: &str) -> Self {
        self.0.spec.refresh_interval = Some(RefreshInterval::new(interval));
        self
    }

    pub fn requirements(mut self, requirements: Requirements) -> Self {
        self.0.spec.requirements = Some(requirements);
        self
    }

    /// Requires these authentication modes (other requirements are kept).
    pub fn auth_modes(mut self, modes: &[AuthMode]) -> Self {
        self.requirements_mut().auth_modes = modes.to_vec();
        self
    }

    /// Requires these usages (other requirements are kept).
    pub fn usable_as(mut self, usages: &[Usage]) -> Self {
        self.requirements_mut().usable_as = usages.to_vec();
        self
    }

    fn requirements_mut(&mut self) -> &mut Requirements {
        self.0.spec.requirements.get_or_insert_default()
    }

    pub fn annotation(mut self, key: &str, value: &str) -> Self {
        self.0
            .metadata
            .annotations
            .get_or_insert_with(Default::default)
            .insert(key.to_owned(), value.to_owned());
        self
    }

    pub fn status(mut self, status: ConnectorInfoStatus) -> Self {
        self.0.status = Some(status);
        self
    }

    pub fn build(self) -> ConnectorInfo {
        self.0
    }

    /// The object as a user writes it for `kubectl apply`: YAML without the generation the
    /// API server sets.
    pub fn manifest(mut self) -> String {
        self.0.metadata.generation = None;
        yaml(&self.0)
    }
}

/// An AppFlowAccount named `name` that binds nothing yet, at generation 1.
pub fn account(name: &str) -> AppFlowAccountBuilder {
    let mut account = AppFlowAccount::new(name, AppFlowAccountSpec::default());
    account.metadata.generation = Some(1);
    AppFlowAccountBuilder(account)
}

pub struct AppFlowAccountBuilder(AppFlowAccount);

impl AppFlowAccountBuilder {
    pub fn namespaces(mut self, namespaces: &[&str]) -> Self {
        self.0.spec.namespaces = namespaces.iter().map(|n| (*n).to_owned()).collect();
        self
    }

    pub fn role_arn(mut self, arn: &str) -> Self {
        self.0.spec.role_arn = Some(arn.to_owned());
        self
    }

    pub fn operator_identity(mut self) -> Self {
        self.0.spec.use_operator_identity = Some(true);
        self
    }

    /// Binds the namespaces carrying all these labels (`namespaceSelector.matchLabels`).
    pub fn namespace_labels(mut self, labels: &[(&str, &str)]) -> Self {
        let selector = self
            .0
            .spec
            .namespace_selector
            .get_or_insert_with(NamespaceSelector::default);
        for (key, value) in labels {
            selector
                .match_labels
                .insert((*key).to_owned(), (*value).to_owned());
        }
        self
    }

    pub fn external_id(mut self, external_id: &str) -> Self {
        self.0.spec.external_id = Some(external_id.to_owned());
        self
    }

    pub fn regions(mut self, regions: &[&str]) -> Self {
        self.0.spec.regions = regions.iter().map(|r| (*r).to_owned()).collect();
        self
    }

    pub fn generation(mut self, generation: i64) -> Self {
        self.0.metadata.generation = Some(generation);
        self
    }

    pub fn status(mut self, status: AppFlowAccountStatus) -> Self {
        self.0.status = Some(status);
        self
    }

    pub fn build(self) -> AppFlowAccount {
        self.0
    }

    /// The binding as a user writes it for `kubectl apply`: YAML without the generation the
    /// API server sets.
    pub fn manifest(mut self) -> String {
        self.0.metadata.generation = None;
        yaml(&self.0)
    }
}

/// One YAML document (no `---`): join several with `"---\n"` for one `kubectl apply`.
pub fn yaml(object: &impl Serialize) -> String {
    serde_yaml_ng::to_string(object).expect("a Kubernetes object serialises to YAML")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_manifest_is_what_a_user_writes() {
        let manifest = connector_info("crm", ConnectorType::CustomConnector)
            .label("acme-crm")
            .refresh_interval("1m")
            .usable_as(&[Usage::Source])
            .manifest();
        assert_eq!(
            manifest,
            "apiVersion: appflow.connectorinfo.dev/v1beta1\nkind: ConnectorInfo\nmetadata:\n  name: crm\nspec:\n  connectorType: CustomConnector\n  connectorLabel: acme-crm\n  refreshInterval: 1m\n  requirements:\n    usableAs:\n    - Source\n"
        );
    }

    #[test]
    fn requirement_helpers_add_to_each_other() {
        let object = connector_info("chat", ConnectorType::Slack)
            .auth_modes(&[AuthMode::OAuth2])
            .usable_as(&[Usage::Destination])
            .build();
        let requirements = object.spec.requirements.expect("requirements");
        assert_eq!(requirements.auth_modes, [AuthMode::OAuth2]);
        assert_eq!(requirements.usable_as, [Usage::Destination]);
    }

    #[test]
    fn a_binding_manifest_names_its_selector_and_role() {
        let manifest = account("team-b")
            .namespace_labels(&[("tenant", "team-b")])
            .role_arn("arn:aws:iam::333333333333:role/appflow-connector-operator")
            .external_id("team-b-1")
            .manifest();
        assert_eq!(
            manifest,
            "apiVersion: appflow.connectorinfo.dev/v1beta1\nkind: AppFlowAccount\nmetadata:\n  name: team-b\nspec:\n  namespaceSelector:\n    matchLabels:\n      tenant: team-b\n  roleArn: arn:aws:iam::333333333333:role/appflow-connector-operator\n  externalId: team-b-1\n"
        );
    }

    #[test]
    fn an_object_from_the_api_server_is_edited_in_place() {
        let stored = connector_info("crm", ConnectorType::Slack)
            .namespace("team-a")
            .generation(4)
            .build();
        let edited = ConnectorInfoBuilder::from(stored)
            .annotation("appflow.connectorinfo.dev/refresh", "now")
            .build();
        assert_eq!(edited.metadata.generation, Some(4));
        assert_eq!(edited.metadata.namespace.as_deref(), Some("team-a"));
        assert_eq!(
            edited.metadata.annotations.expect("annotations")["appflow.connectorinfo.dev/refresh"],
            "now"
        );
    }
}
