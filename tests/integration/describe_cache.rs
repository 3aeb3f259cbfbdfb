//! The describe cache (one call per connector, a failing key's backoff, forced refreshes) and
//! the rate limit against the emulator over HTTP, with the real SDK.

use std::sync::Arc;
use std::time::{Duration, Instant};

use conninfo_aws::cache::{self, DescribeCache, Source, Wait};
use conninfo_aws::observe::{self, Policy};
use conninfo_aws::ratelimit::RateLimiter;
use conninfo_core::account::Identity;
use conninfo_core::crd::{ConnectorInfo, ConnectorInfoStatus, ConnectorType, REFRESH_ANNOTATION};
use conninfo_core::reason::Reason;

use conninfo_test_support::Emulator;
use conninfo_test_support::builders::connector_info;

fn object(name: &str, connector_type: ConnectorType) -> ConnectorInfo {
    connector_info(name, connector_type).build()
}

#[tokio::test]
async fn concurrent_objects_naming_one_connector_share_one_call() {
    // Each answer takes 300 ms, so all 20 ask while the first call is in flight.
    let emulator = Emulator::start("account: {latencyMs: 300}").await;
    let appflow = Arc::new(emulator.appflow(emulator.settings()).await);
    let cache = Arc::new(DescribeCache::default());
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (appflow, cache) = (appflow.clone(), cache.clone());
            tokio::spawn(async move {
                let object = object(&format!("o{i}"), ConnectorType::Slack);
                let observed = observe::observe_once(&appflow, &cache, &object, &Policy::default())
                    .await
                    .expect("no rate limit");
                (observed.source, observed.computed.is_ready())
            })
        })
        .collect();
    let mut sources = Vec::new();
    for task in tasks {
        let (source, ready) = task.await.expect("task");
        assert!(ready);
        sources.push(source.expect("described"));
    }
    assert_eq!(emulator.calls("Slack").await, 1, "one call for 20 objects");
    assert_eq!(sources.iter().filter(|s| **s == Source::Called).count(), 1);
    assert_eq!(sources.iter().filter(|s| **s == Source::Joined).count(), 19);
}

#[tokio::test]
async fn the_client_rate_limit_stays_under_the_account_quota() {
    // The account allows 4 calls/s (burst 4); the operator asks for at most 2/s (burst 2).
    let emulator = Emulator::start("account: {rateLimit: {requestsPerSecond: 4, burst: 4}}").await;
    let appflow = Arc::new(emulator.appflow(emulator.settings()).await);
    let cache = DescribeCache::with_limiter(RateLimiter::new(2.0, 2, Instant::now()));
    let types = [
        ConnectorType::Salesforce,
        ConnectorType::Slack,
        ConnectorType::Zendesk,
        ConnectorType::Datadog,
        ConnectorType::Snowflake,
        ConnectorType::Marketo,
    ];
    let started = Instant::now();
    let mut waited = 0;
    for connector_type in types {
        let object = object("o", connector_type);
        loop {
            match observe::observe_once(&appflow, &cache, &object, &Policy::default()).await {
                Ok(observed) => {
                    assert!(observed.computed.is_ready(), "{connector_type}");
                    break;
                }
                // The limiter's own answer: when the next token is there.
                Err(Wait::Token(wait)) => {
                    waited += 1;
                    tokio::time::sleep(wait).await;
                }
                Err(wait) => panic!("no refresh request here: {wait:?}"),
            }
        }
    }
    let stats = emulator.stats().await;
    assert_eq!(
        stats["throttled"], 0,
        "never over the account quota: {stats}"
    );
    assert_eq!(stats["total"], 6);
    assert!(waited >= 1, "the limiter made callers wait");
    // 2 at once, then 2/s: the last of 6 goes out after about 2 s.
    assert!(
        started.elapsed() >= Duration::from_millis(1900),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn the_emulator_throttles_beyond_the_account_quota() {
    let emulator = Emulator::start("account: {rateLimit: {requestsPerSecond: 1, burst: 2}}").await;
    let appflow = emulator.appflow(emulator.settings()).await;
    let mut reasons = Vec::new();
    for _ in 0..4 {
        let outcome = appflow
            .describe_connector(&Identity::Operator, None, "Slack", None)
            .await;
        reasons.push(outcome.err().map(|e| e.reason));
    }
    use conninfo_core::reason::Reason::Throttled;
    assert_eq!(reasons, [None, None, Some(Throttled), Some(Throttled)]);
    assert_eq!(emulator.stats().await["throttled"], 2);
}

/// Asks for `object` through `cache` as the operator would (no rate limit) and returns how
/// the describe was answered and its reason.
async fn ask(
    appflow: &Arc<conninfo_aws::appflow::AppFlow>,
    cache: &DescribeCache,
    object: &ConnectorInfo,
) -> (Source, Reason) {
    let observed = observe::observe_once(appflow, cache, object, &Policy::default())
        .await
        .expect("no rate limit");
    (
        observed.source.expect("described"),
        observed.computed.reason,
    )
}

#[tokio::test]
async fn a_denied_connector_costs_one_call_per_backoff_step_for_twenty_objects() {
    let emulator = Emulator::start("{}").await;
    emulator
        .set_fault(
            "Slack",
            serde_json::json!({"errorCode": "AccessDeniedException"}),
        )
        .await;
    let appflow = Arc::new(emulator.appflow(emulator.settings()).await);
    let cache = DescribeCache::default();
    let objects: Vec<_> = (0..20)
        .map(|i| object(&format!("o{i}"), ConnectorType::Slack))
        .collect();
    // The key's holds: 5 s after the first denial, 10 s after the second. Every object asks
    // every 250 ms for 12 s; before keys had a budget that cost a call every 5 s (3).
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(12) {
        for object in &objects {
            let (_, reason) = ask(&appflow, &cache, object).await;
            assert_eq!(reason, Reason::AccessDenied);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(emulator.calls("Slack").await, 2, "calls at 0 s and 5 s");
    assert_eq!(cache.keys_backing_off(Instant::now()), 1);

    // An object whose spec changed since its status was written asks again at once.
    let mut changed = objects[0].clone();
    changed.metadata.generation = Some(2);
    changed.status = Some(ConnectorInfoStatus {
        observed_generation: Some(1),
        ..Default::default()
    });
    assert_eq!(ask(&appflow, &cache, &changed).await.0, Source::Called);
    assert_eq!(ask(&appflow, &cache, &objects[1]).await.0, Source::Hit);
    assert_eq!(emulator.calls("Slack").await, 3);

    // Once AWS answers again, a success ends the key's backoff.
    emulator.set_fault("Slack", serde_json::Value::Null).await;
    tokio::time::sleep(cache::FAILURE_TTL).await;
    assert_eq!(
        ask(&appflow, &cache, &changed).await,
        (Source::Called, Reason::Described)
    );
    assert_eq!(cache.keys_backing_off(Instant::now()), 0);
}

#[tokio::test]
async fn a_slow_fleet_wide_refresh_waits_for_the_next_call_and_costs_one_per_interval() {
    let emulator = Emulator::start("{}").await;
    let appflow = Arc::new(emulator.appflow(emulator.settings()).await);
    // A 2 s forced-refresh interval stands for the default 60 s: the same arithmetic, faster.
    let interval = Duration::from_secs(2);
    let cache = Arc::new(DescribeCache::default().with_forced_interval(interval));
    let mut fleet: Vec<_> = (0..40)
        .map(|i| object(&format!("o{i}"), ConnectorType::Slack))
        .collect();
    for object in &fleet {
        ask(&appflow, &cache, object).await;
    }
    assert_eq!(emulator.calls("Slack").await, 1);
    for object in &mut fleet {
        object.metadata.annotations =
            Some([(REFRESH_ANNOTATION.to_owned(), "fleet".to_owned())].into());
    }
    // Annotated one every 90 ms over about 3.6 s; each request dated when it is made, as the
    // operator's watch dates it, and asked again when its wait for the next call ends.
    let started = Instant::now();
    let tasks: Vec<_> = fleet
        .into_iter()
        .enumerate()
        .map(|(i, object)| {
            let (appflow, cache) = (appflow.clone(), cache.clone());
            tokio::spawn(async move {
                tokio::time::sleep_until((started + Duration::from_millis(90) * i as u32).into())
                    .await;
                let requested = Instant::now();
                refreshed(&appflow, &cache, &object, requested).await
            })
        })
        .collect();
    for task in tasks {
        let (handled, waited) = task.await.expect("task");
        assert_eq!(handled.as_deref(), Some("fleet"));
        assert!(
            waited <= interval + Duration::from_millis(500),
            "{waited:?}"
        );
    }
    let forced = emulator.calls("Slack").await - 1;
    assert!(
        (2..=3).contains(&forced),
        "{forced} calls for a refresh spread over 3.6 s (at most ⌈3.6 / 2⌉ + 1)"
    );
}

/// Observes `object`, whose refresh request was made at `requested`, until a call answers
/// the request; returns the status's `lastHandledRefresh` and how long the answer took.
async fn refreshed(
    appflow: &Arc<conninfo_aws::appflow::AppFlow>,
    cache: &DescribeCache,
    object: &ConnectorInfo,
    requested: Instant,
) -> (Option<String>, Duration) {
    let access = Ok(conninfo_core::account::Access::operator());
    loop {
        let policy = Policy::default();
        let admitted = observe::admit(
            &object.spec,
            &policy,
            access.clone(),
            appflow.default_region(),
        );
        let now = jiff::Timestamp::now();
        match observe::observe(
            appflow,
            cache,
            object,
            admitted,
            Some(requested),
            policy.stalled_after,
            now,
        )
        .await
        {
            Ok(observed) => {
                let handled = observed.computed.status.last_handled_refresh;
                return (handled.as_deref().map(str::to_owned), requested.elapsed());
            }
            Err(Wait::Refresh(until)) => tokio::time::sleep_until(until.into()).await,
            Err(wait) => panic!("no rate limit here: {wait:?}"),
        }
    }
}
