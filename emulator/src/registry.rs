//! The AWS accounts the emulator serves: per account, its custom connector
//! registrations and its DescribeConnector call counts. Vended connectors are
//! the same in every account and are not kept here.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::data::CustomConnectorSpec;

/// A registered custom connector.
pub struct CustomEntry {
    pub spec: CustomConnectorSpec,
    /// Epoch seconds.
    pub registered_at: f64,
}

/// One account's custom connectors and calls.
#[derive(Default)]
pub struct AccountState {
    pub custom: BTreeMap<String, CustomEntry>,
    calls: BTreeMap<String, u64>,
    total: u64,
}

/// Every account, the default one included.
pub struct Accounts {
    default_id: String,
    by_id: BTreeMap<String, AccountState>,
}

impl Accounts {
    pub fn new(default_id: String) -> Self {
        let by_id = BTreeMap::from([(default_id.clone(), AccountState::default())]);
        Accounts { default_id, by_id }
    }

    /// The account that keys STS did not issue act in.
    pub fn default_id(&self) -> &str {
        &self.default_id
    }

    pub fn contains(&self, id: &str) -> bool {
        self.by_id.contains_key(id)
    }

    pub fn get(&self, id: &str) -> Option<&AccountState> {
        self.by_id.get(id)
    }

    /// The account, created empty if it is not known yet.
    pub fn entry(&mut self, id: &str) -> &mut AccountState {
        self.by_id.entry(id.to_string()).or_default()
    }

    /// Counts one DescribeConnector call to `key` in account `id`.
    pub fn count(&mut self, id: &str, key: &str) {
        let account = self.entry(id);
        *account.calls.entry(key.to_string()).or_insert(0) += 1;
        account.total += 1;
    }

    pub fn reset_counts(&mut self) {
        for account in self.by_id.values_mut() {
            account.calls.clear();
            account.total = 0;
        }
    }

    /// The `accounts` member of `/_emulator/stats`.
    pub fn status(&self) -> Value {
        self.by_id
            .iter()
            .map(|(id, a)| {
                (
                    id.clone(),
                    json!({
                        "calls": a.calls,
                        "total": a.total,
                        "customConnectors": a.custom.keys().collect::<Vec<_>>(),
                    }),
                )
            })
            .collect::<serde_json::Map<_, _>>()
            .into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_per_account() {
        let mut a = Accounts::new("111111111111".into());
        a.count("111111111111", "Slack");
        a.count("222222222222", "Slack");
        a.count("222222222222", "Slack");
        assert!(a.contains("222222222222"));
        let s = a.status();
        assert_eq!(s["111111111111"]["total"], json!(1));
        assert_eq!(s["222222222222"]["calls"]["Slack"], json!(2));
        a.reset_counts();
        assert_eq!(a.status()["222222222222"]["total"], json!(0));
        assert_eq!(a.default_id(), "111111111111");
    }
}
