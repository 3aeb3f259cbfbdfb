//! Builders for test objects, so that a test names only what it is about. Compiled for this
//! crate's tests and, with the `fixtures` feature, for the other crates' tests (through
//! `conninfo-test-support`); never in the operator.

use crate::account::{AppFlowAccount, AppFlowAccountSpec, AppFlowAccountStatus};
use crate::crd::{
    ConnectorInfo, ConnectorInfoSpec, ConnectorInfoStatus, ConnectorType, Requirements,
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
}
