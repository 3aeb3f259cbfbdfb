//! The conditions an AppFlowAccount binding carries and their reasons, typed like
//! ConnectorInfo's (`crate::condition`): the same toolkit sets, sorts and reads them.

use strum::{EnumString, IntoStaticStr, VariantArray};

use crate::condition::ConditionKind;

/// A binding's conditions, in the order status lists them (docs/design.md, "Conditions").
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, IntoStaticStr, EnumString, VariantArray)]
pub enum AccountConditionType {
    /// The binding serves its namespaces: its identity works, its selector can be used and no
    /// namespace it matches is matched by another binding.
    Ready,
    /// The binding's identity answered (its role was assumed, or it is the operator's own).
    RoleAssumed,
    /// A namespace the binding matches is matched by another binding too.
    Conflicted,
}

impl ConditionKind for AccountConditionType {
    type Reason = AccountReason;
}

/// The reasons a binding's conditions carry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, IntoStaticStr, EnumString, VariantArray)]
pub enum AccountReason {
    /// The role cannot be assumed, or the operator's own identity cannot be used.
    AccessDenied,
    /// No role: the operator's own identity serves the namespaces.
    OperatorIdentity,
    /// The role has not been tried yet.
    Pending,
    /// The role was assumed.
    Assumed,
    /// No namespace the binding matches is matched by another (`Conflicted` False).
    NoConflict,
    /// A namespace the binding matches is matched by another binding too.
    NamespaceConflict,
    /// `spec.namespaceSelector` cannot be evaluated, so it selects nothing.
    InvalidSelector,
    /// Ready: the binding serves its namespaces.
    Bound,
}

impl AccountReason {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wire_strings_are_the_ones_the_docs_spell() {
        let types: Vec<&str> = AccountConditionType::VARIANTS
            .iter()
            .map(|t| t.as_str())
            .collect();
        assert_eq!(types, ["Ready", "RoleAssumed", "Conflicted"]);
        for type_ in AccountConditionType::VARIANTS {
            assert_eq!(AccountConditionType::parse(type_.as_str()), Some(*type_));
        }
        assert_eq!(AccountConditionType::parse("Synced"), None);
        let reasons: Vec<&str> = AccountReason::VARIANTS.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            reasons,
            [
                "AccessDenied",
                "OperatorIdentity",
                "Pending",
                "Assumed",
                "NoConflict",
                "NamespaceConflict",
                "InvalidSelector",
                "Bound",
            ]
        );
    }
}
