//! Pure: what changed between two mirrored connector configurations, field by field, in AWS's
//! names (`authenticationConfig.isApiKeyAuthSupported: true → false`,
//! `supportedOperators: +BETWEEN`), most important first, and a summary that fits an Event.

use std::fmt;

use serde_json::Value;

use crate::mirror::ConnectorConfiguration;

/// Values longer than this are not shown, only said to have changed.
const SHOWN_VALUE_CHARS: usize = 40;

/// One changed field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Change {
    /// Dotted path in AWS's member names.
    pub path: String,
    pub kind: ChangeKind,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ChangeKind {
    /// A value replaced by another (`None`: too long to show).
    Changed(Option<(String, String)>),
    /// A member that was not there before.
    Added(Option<String>),
    /// A member that is gone.
    Removed,
    /// Items added to and removed from a list.
    Items {
        added: Vec<String>,
        removed: Vec<String>,
    },
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            ChangeKind::Changed(Some((old, new))) => write!(f, "{}: {old} → {new}", self.path),
            ChangeKind::Changed(None) => write!(f, "{} changed", self.path),
            ChangeKind::Added(Some(value)) => write!(f, "{}: added {value}", self.path),
            ChangeKind::Added(None) => write!(f, "{} added", self.path),
            ChangeKind::Removed => write!(f, "{} removed", self.path),
            ChangeKind::Items { added, removed } => {
                let items = added
                    .iter()
                    .map(|a| format!("+{a}"))
                    .chain(removed.iter().map(|r| format!("-{r}")))
                    .collect::<Vec<_>>();
                write!(f, "{}: {}", self.path, items.join(", "))
            }
        }
    }
}

/// How much a path matters to the teams that depend on the connector: auth first (grant types
/// are part of it), then whether it can be a source or destination, then everything else.
fn rank(path: &str) -> u8 {
    if path.starts_with("authenticationConfig") {
        0
    } else if path.starts_with("canUseAs") || path.starts_with("supportedDestinationConnectors") {
        1
    } else {
        2
    }
}

/// Every changed field from `old` to `new`, most important first (then by path).
pub fn diff(old: &ConnectorConfiguration, new: &ConnectorConfiguration) -> Vec<Change> {
    let (Ok(old), Ok(new)) = (serde_json::to_value(old), serde_json::to_value(new)) else {
        return Vec::new();
    };
    let mut changes = Vec::new();
    walk("", &old, &new, &mut changes);
    changes.sort_by(|a, b| (rank(&a.path), &a.path).cmp(&(rank(&b.path), &b.path)));
    changes
}

fn join(path: &str, key: &str) -> String {
    if path.is_empty() {
        key.to_owned()
    } else {
        format!("{path}.{key}")
    }
}

/// A value as shown in a change, or `None` when it is too long to be useful.
fn shown(value: &Value) -> Option<String> {
    let text = match value {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    (text.chars().count() <= SHOWN_VALUE_CHARS).then_some(text)
}

/// A list item as shown: scalars as they are, objects as `{…}` unless short.
fn shown_item(value: &Value) -> String {
    shown(value).unwrap_or_else(|| match value {
        Value::Object(_) => "{…}".to_owned(),
        Value::String(s) => format!("{}…", s.chars().take(SHOWN_VALUE_CHARS).collect::<String>()),
        _ => "…".to_owned(),
    })
}

fn walk(path: &str, old: &Value, new: &Value, changes: &mut Vec<Change>) {
    if old == new {
        return;
    }
    match (old, new) {
        (Value::Object(old), Value::Object(new)) => {
            for (key, old_value) in old {
                let at = join(path, key);
                match new.get(key) {
                    Some(new_value) => walk(&at, old_value, new_value, changes),
                    None => changes.push(Change {
                        path: at,
                        kind: ChangeKind::Removed,
                    }),
                }
            }
            for (key, new_value) in new {
                if !old.contains_key(key) {
                    changes.push(Change {
                        path: join(path, key),
                        kind: ChangeKind::Added(shown(new_value)),
                    });
                }
            }
        }
        (Value::Array(old), Value::Array(new)) => {
            let added = new
                .iter()
                .filter(|item| !old.contains(item))
                .map(shown_item)
                .collect::<Vec<_>>();
            let removed = old
                .iter()
                .filter(|item| !new.contains(item))
                .map(shown_item)
                .collect::<Vec<_>>();
            let kind = if added.is_empty() && removed.is_empty() {
                // Same items, another order.
                ChangeKind::Changed(None)
            } else {
                ChangeKind::Items { added, removed }
            };
            changes.push(Change {
                path: path.to_owned(),
                kind,
            });
        }
        _ => changes.push(Change {
            path: path.to_owned(),
            kind: ChangeKind::Changed(shown(old).zip(shown(new))),
        }),
    }
}

/// The changes as one line of at most `max` bytes, most important first; what does not fit is
/// counted (`… and 3 more`).
pub fn summary(changes: &[Change], max: usize) -> String {
    let mut out = String::new();
    for (i, change) in changes.iter().enumerate() {
        let text = change.to_string();
        let more = changes.len() - i - 1;
        let tail = if more > 0 {
            format!("; … and {more} more")
        } else {
            String::new()
        };
        let separator = if out.is_empty() { "" } else { "; " };
        if out.len() + separator.len() + text.len() + tail.len() > max {
            let left = changes.len() - i;
            let rest = format!("{separator}… and {left} more");
            if out.len() + rest.len() <= max {
                out.push_str(&rest);
            }
            return out;
        }
        out.push_str(separator);
        out.push_str(&text);
    }
    out
}

/// Pure: a stable digest of a configuration: SHA-256 of its JSON with members sorted, so tools
/// can tell whether two objects mirror the same configuration without comparing them.
pub fn digest(config: &ConnectorConfiguration) -> String {
    use sha2::{Digest, Sha256};
    // serde_json's maps keep members sorted (no `preserve_order`), so this text is canonical.
    let canonical = serde_json::to_value(config)
        .map(|v| v.to_string())
        .unwrap_or_default();
    let hash = Sha256::digest(canonical.as_bytes());
    format!(
        "sha256:{}",
        hash.iter().map(|b| format!("{b:02x}")).collect::<String>()
    )
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// Laid over `patch` onto a default configuration (with a default authenticationConfig),
    /// so each test names only the members it is about.
    fn config(patch: Value) -> ConnectorConfiguration {
        fn merge(base: &mut Value, patch: Value) {
            match (base, patch) {
                (Value::Object(base), Value::Object(patch)) => {
                    for (key, value) in patch {
                        merge(base.entry(key).or_insert(Value::Null), value);
                    }
                }
                (base, patch) => *base = patch,
            }
        }
        let mut base = serde_json::to_value(ConnectorConfiguration {
            authentication_config: Some(Default::default()),
            ..Default::default()
        })
        .expect("json");
        merge(&mut base, patch);
        serde_json::from_value(base).expect("a configuration")
    }

    fn lines(old: Value, new: Value) -> Vec<String> {
        diff(&config(old), &config(new))
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn a_flipped_scalar_shows_both_values() {
        assert_eq!(
            lines(
                json!({"canUseAsSource": true, "canUseAsDestination": true, "authenticationConfig": {"isApiKeyAuthSupported": true}}),
                json!({"canUseAsSource": true, "canUseAsDestination": true, "authenticationConfig": {"isApiKeyAuthSupported": false}}),
            ),
            ["authenticationConfig.isApiKeyAuthSupported: true → false"]
        );
    }

    #[test]
    fn lists_show_added_and_removed_items() {
        assert_eq!(
            lines(
                json!({"canUseAsSource": true, "canUseAsDestination": false, "supportedOperators": ["EQUAL_TO", "LESS_THAN"]}),
                json!({"canUseAsSource": true, "canUseAsDestination": false, "supportedOperators": ["EQUAL_TO", "BETWEEN"]}),
            ),
            ["supportedOperators: +BETWEEN, -LESS_THAN"]
        );
    }

    #[test]
    fn nested_maps_added_members_and_long_values() {
        let arn =
            |n: u8| format!("arn:aws:lambda:us-east-1:111122223333:function:acme-connector-{n}");
        let changes = lines(
            json!({"canUseAsSource": true, "canUseAsDestination": false,
                   "connectorProvisioningConfig": {"lambda": {"lambdaArn": arn(1)}}}),
            json!({"canUseAsSource": true, "canUseAsDestination": true,
                   "connectorProvisioningConfig": {"lambda": {"lambdaArn": arn(2)}},
                   "connectorDescription": "Acme"}),
        );
        assert_eq!(
            changes,
            [
                "canUseAsDestination: false → true",
                "connectorDescription: added Acme",
                "connectorProvisioningConfig.lambda.lambdaArn changed",
            ]
        );
    }

    #[test]
    fn unknown_metadata_is_diffed_too() {
        let changes = lines(
            json!({"canUseAsSource": true, "canUseAsDestination": false,
                   "connectorMetadata": {"NewVendor": {"tier": "gold"}}}),
            json!({"canUseAsSource": true, "canUseAsDestination": false,
                   "connectorMetadata": {"NewVendor": {"tier": "silver"}}}),
        );
        assert_eq!(changes, ["connectorMetadata.NewVendor.tier: gold → silver"]);
    }

    #[test]
    fn auth_comes_first_then_usability_then_the_rest() {
        let changes = lines(
            json!({"canUseAsSource": true, "canUseAsDestination": false, "connectorVersion": "1",
                   "authenticationConfig": {"isOAuth2Supported": true,
                     "oAuth2Defaults": {"oauth2GrantTypesSupported": ["CLIENT_CREDENTIALS"]}}}),
            json!({"canUseAsSource": false, "canUseAsDestination": false, "connectorVersion": "2",
                   "authenticationConfig": {"isOAuth2Supported": true,
                     "oAuth2Defaults": {"oauth2GrantTypesSupported": []}}}),
        );
        assert_eq!(
            changes,
            [
                "authenticationConfig.oAuth2Defaults.oauth2GrantTypesSupported removed",
                "canUseAsSource: true → false",
                "connectorVersion: 1 → 2",
            ]
        );
    }

    #[test]
    fn nothing_changed_is_no_change() {
        let same = json!({"canUseAsSource": true, "canUseAsDestination": true, "supportedOperators": ["A", "B"]});
        assert!(lines(same.clone(), same).is_empty());
    }

    #[test]
    fn the_summary_fits_and_counts_what_it_leaves_out() {
        let changes: Vec<Change> = (0..100)
            .map(|i| Change {
                path: format!("field{i:03}"),
                kind: ChangeKind::Removed,
            })
            .collect();
        let text = summary(&changes, 200);
        assert!(text.len() <= 200, "{}", text.len());
        assert!(
            text.starts_with("field000 removed; field001 removed"),
            "{text}"
        );
        assert!(text.ends_with("more"), "{text}");
        let shown = text.matches("removed").count();
        assert!(
            text.contains(&format!("… and {} more", 100 - shown)),
            "{text}"
        );
        assert_eq!(
            summary(&changes[..2], 200),
            "field000 removed; field001 removed"
        );
    }

    #[test]
    fn the_digest_is_stable_and_tells_configurations_apart() {
        let a = config(json!({"canUseAsSource": true, "canUseAsDestination": false}));
        let b = config(json!({"canUseAsSource": true, "canUseAsDestination": true}));
        assert_eq!(digest(&a), digest(&a.clone()));
        assert_ne!(digest(&a), digest(&b));
        assert!(digest(&a).starts_with("sha256:") && digest(&a).len() == 71);
    }
}
