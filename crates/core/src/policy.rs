//! Pure: what the platform team allows tenants to ask for, checked before any AWS call.

use std::collections::BTreeSet;

use crate::outcome::{Refusal, RefusalCategory};

/// The regions a `spec.region` may name; empty allows any. An object that names no region
/// uses the operator's own region, which the platform team chose, and is always allowed.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct AllowedRegions(BTreeSet<String>);

impl AllowedRegions {
    pub fn new<I, S>(regions: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        Self(
            regions
                .into_iter()
                .map(Into::into)
                .filter(|r: &String| !r.is_empty())
                .collect(),
        )
    }

    pub fn is_any(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether the list allows the region (any list allows no region).
    pub fn allows(&self, region: Option<&str>) -> bool {
        match region {
            Some(region) => self.is_any() || self.0.contains(region),
            None => true,
        }
    }

    /// The operator's `--allowed-regions` on a `spec.region`; the refusal carries the message
    /// the object's conditions show.
    pub fn check(&self, region: Option<&str>) -> Result<(), Refusal> {
        match region {
            Some(region) if !self.allows(Some(region)) => Err(Refusal::new(
                RefusalCategory::RegionNotAllowed,
                format!(
                    "spec.region {region} is not allowed by this operator; allowed regions: {self} (remove spec.region to use the operator's region)"
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// The allowed regions, comma-separated, in order.
impl std::fmt::Display for AllowedRegions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let regions: Vec<&str> = self.0.iter().map(String::as_str).collect();
        f.write_str(&regions.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_allows_any_region() {
        let any = AllowedRegions::default();
        assert!(any.is_any());
        assert_eq!(any.check(Some("ap-south-1")), Ok(()));
        assert_eq!(any.check(None), Ok(()));
    }

    #[test]
    fn a_list_refuses_other_regions_and_names_the_allowed_ones() {
        let allowed = AllowedRegions::new(["us-east-1", "eu-west-1", ""]);
        assert_eq!(allowed.check(Some("eu-west-1")), Ok(()));
        assert_eq!(allowed.check(None), Ok(()), "the operator's own region");
        let refused = allowed.check(Some("ap-south-1")).unwrap_err();
        assert_eq!(refused.category, RefusalCategory::RegionNotAllowed);
        let refused = refused.message;
        assert!(
            refused.contains("ap-south-1") && refused.contains("eu-west-1, us-east-1"),
            "{refused}"
        );
        assert_eq!(
            refused,
            "spec.region ap-south-1 is not allowed by this operator; allowed regions: eu-west-1, us-east-1 (remove spec.region to use the operator's region)"
        );
        assert!(allowed.allows(Some("us-east-1")) && allowed.allows(None));
        assert!(!allowed.allows(Some("ap-south-1")));
    }
}
