//! The API server's word on a bearer token: a TokenReview (who is this?) then a
//! SubjectAccessReview (may they `get` the non-resource URL `/metrics`?), the way
//! controller-runtime's `filters.WithAuthenticationAndAuthorization` asks. The operator's
//! ServiceAccount needs `create` on both (the chart's `-metrics-auth` ClusterRole).

use futures::future::BoxFuture;
use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec, UserInfo};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::api::{Api, PostParams};

/// The path and verb a scraper must be allowed, as RBAC's `nonResourceURLs` names them.
pub const METRICS_PATH: &str = "/metrics";
pub const METRICS_VERB: &str = "get";

#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("TokenReview failed: {0}")]
    TokenReview(#[source] kube::Error),
    #[error("SubjectAccessReview failed: {0}")]
    SubjectAccessReview(#[source] kube::Error),
    #[error("the API server answered the {0} without a status")]
    NoStatus(&'static str),
}

/// Asks the API server. A trait so the authorizer's logic is tested without one.
pub trait Reviewer: Send + Sync {
    /// The user the token authenticates, or `None` when it authenticates no one.
    fn authenticate<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<UserInfo>, ReviewError>>;

    /// Whether `user` may `get` `/metrics`.
    fn authorize<'a>(&'a self, user: &'a UserInfo) -> BoxFuture<'a, Result<bool, ReviewError>>;
}

/// The reviews, created through the operator's own client.
pub struct KubeReviewer {
    client: kube::Client,
}

impl KubeReviewer {
    pub fn new(client: kube::Client) -> Self {
        Self { client }
    }
}

impl Reviewer for KubeReviewer {
    fn authenticate<'a>(
        &'a self,
        token: &'a str,
    ) -> BoxFuture<'a, Result<Option<UserInfo>, ReviewError>> {
        Box::pin(async move {
            let reviewed = Api::<TokenReview>::all(self.client.clone())
                .create(&PostParams::default(), &token_review(token))
                .await
                .map_err(ReviewError::TokenReview)?;
            authenticated_user(reviewed)
        })
    }

    fn authorize<'a>(&'a self, user: &'a UserInfo) -> BoxFuture<'a, Result<bool, ReviewError>> {
        Box::pin(async move {
            let reviewed = Api::<SubjectAccessReview>::all(self.client.clone())
                .create(&PostParams::default(), &access_review(user))
                .await
                .map_err(ReviewError::SubjectAccessReview)?;
            let status = reviewed
                .status
                .ok_or(ReviewError::NoStatus("SubjectAccessReview"))?;
            Ok(status.allowed)
        })
    }
}

/// A TokenReview for the API server's own audience (the ServiceAccount tokens Prometheus
/// mounts, and `kubectl create token`'s, carry it).
fn token_review(token: &str) -> TokenReview {
    TokenReview {
        spec: TokenReviewSpec {
            token: Some(token.to_owned()),
            audiences: None,
        },
        ..TokenReview::default()
    }
}

fn authenticated_user(reviewed: TokenReview) -> Result<Option<UserInfo>, ReviewError> {
    let status = reviewed
        .status
        .ok_or(ReviewError::NoStatus("TokenReview"))?;
    let user = status.user.filter(|user| {
        user.username
            .as_deref()
            .is_some_and(|name| !name.is_empty())
    });
    Ok(user.filter(|_| status.authenticated == Some(true)))
}

/// Everything the TokenReview said about the user goes into the question: name, uid,
/// groups and extra (a bound token's pod and node claims), so RBAC sees the same subject
/// the API server would.
fn access_review(user: &UserInfo) -> SubjectAccessReview {
    SubjectAccessReview {
        spec: SubjectAccessReviewSpec {
            user: user.username.clone(),
            uid: user.uid.clone(),
            groups: user.groups.clone(),
            extra: user.extra.clone(),
            non_resource_attributes: Some(NonResourceAttributes {
                path: Some(METRICS_PATH.to_owned()),
                verb: Some(METRICS_VERB.to_owned()),
            }),
            resource_attributes: None,
        },
        ..SubjectAccessReview::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::api::authentication::v1::TokenReviewStatus;
    use std::collections::BTreeMap;

    fn reader() -> UserInfo {
        UserInfo {
            username: Some("system:serviceaccount:monitoring:prometheus".to_owned()),
            uid: Some("6a1c".to_owned()),
            groups: Some(vec![
                "system:serviceaccounts".to_owned(),
                "system:authenticated".to_owned(),
            ]),
            extra: Some(BTreeMap::from([(
                "authentication.kubernetes.io/pod-name".to_owned(),
                vec!["prometheus-0".to_owned()],
            )])),
        }
    }

    fn reviewed(authenticated: Option<bool>, user: Option<UserInfo>) -> TokenReview {
        TokenReview {
            status: Some(TokenReviewStatus {
                authenticated,
                user,
                ..TokenReviewStatus::default()
            }),
            ..TokenReview::default()
        }
    }

    #[test]
    fn the_token_review_carries_the_token_for_the_api_servers_audience() {
        let review = token_review("t0ken");
        assert_eq!(review.spec.token.as_deref(), Some("t0ken"));
        assert_eq!(review.spec.audiences, None);
    }

    #[test]
    fn only_an_authenticated_named_user_is_a_user() {
        let user = authenticated_user(reviewed(Some(true), Some(reader()))).expect("status");
        assert_eq!(user, Some(reader()));
        for (authenticated, user) in [
            (Some(false), Some(reader())),
            (None, Some(reader())),
            (Some(true), None),
            (Some(true), Some(UserInfo::default())),
        ] {
            let answer = authenticated_user(reviewed(authenticated, user.clone())).expect("status");
            assert_eq!(answer, None, "{authenticated:?} {user:?}");
        }
        assert!(matches!(
            authenticated_user(TokenReview::default()),
            Err(ReviewError::NoStatus("TokenReview"))
        ));
    }

    #[test]
    fn the_access_review_asks_for_get_on_metrics_as_the_reviewed_user() {
        let user = reader();
        let spec = access_review(&user).spec;
        assert_eq!(spec.user, user.username);
        assert_eq!(spec.uid, user.uid);
        assert_eq!(spec.groups, user.groups);
        assert_eq!(spec.extra, user.extra);
        assert_eq!(
            spec.non_resource_attributes,
            Some(NonResourceAttributes {
                path: Some("/metrics".to_owned()),
                verb: Some("get".to_owned()),
            })
        );
        assert_eq!(spec.resource_attributes, None);
    }
}
