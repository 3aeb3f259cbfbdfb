//! `check`: the GitOps gate. Reads manifests (or the cluster), judges every ConnectorInfo
//! as admission and the controller would, and reports in a format CI shows.

use std::process::ExitCode;
use std::sync::Arc;

use futures::StreamExt;
use kube::api::{Api, ListParams};

use crate::cli::{CheckArgs, CheckFormat};
use conninfo_aws::appflow::AppFlow;
use conninfo_aws::cache::DescribeCache;
use conninfo_aws::observe::{self, Policy};
use conninfo_core::admission;
use conninfo_core::check::input::{self, Document, InputError, Source};
use conninfo_core::check::report::{self, CheckResult, Mode, Report, Subject};
use conninfo_core::check::verdict::{self, Verdict};
use conninfo_core::crd::{ConnectorInfo, Requirements};

/// Describes in flight at once; calls for the same connector are shared by the cache anyway.
const DESCRIBE_CONCURRENCY: usize = 8;

/// A ConnectorInfo found in the input, admitted or not.
struct Candidate {
    subject: Subject,
    admitted: Result<ConnectorInfo, admission::Refused>,
}

/// The `check` command; see [`report`] for the exit codes.
pub async fn command(args: CheckArgs) -> ExitCode {
    let extra = organisation_requirements(&args);
    let (documents, mut input_errors) = read_input(&args);
    let candidates: Vec<Candidate> = documents.into_iter().filter_map(candidate).collect();
    let (mode, results, calls) = judge_all(&args, candidates, &extra, &mut input_errors).await;
    if results.is_empty() && input_errors.is_empty() {
        eprintln!("warning: no ConnectorInfo found");
    }
    let report = Report::new(mode, results, &input_errors, calls);
    print_report(&report, args.output)
}

/// Every `--require`, merged: they apply to each object on top of its own requirements.
fn organisation_requirements(args: &CheckArgs) -> Requirements {
    args.require.iter().fold(Requirements::default(), |all, r| {
        verdict::merge(Some(&all), r)
    })
}

/// The documents of the paths given; none without paths (`--from-cluster` lists instead).
fn read_input(args: &CheckArgs) -> (Vec<Document>, Vec<InputError>) {
    if args.paths.is_empty() {
        (Vec::new(), Vec::new())
    } else {
        input::read_paths(&args.paths, &mut std::io::stdin().lock())
    }
}

/// The results in the mode asked for, with the DescribeConnector calls made. A cluster that
/// cannot be read is an input error: the check did not see everything.
async fn judge_all(
    args: &CheckArgs,
    candidates: Vec<Candidate>,
    extra: &Requirements,
    input_errors: &mut Vec<InputError>,
) -> (Mode, Vec<CheckResult>, usize) {
    if args.from_cluster {
        let results = match from_cluster(args, candidates, extra).await {
            Ok(results) => results,
            Err(e) => {
                input_errors.push(InputError {
                    file: None,
                    line: None,
                    message: format!("cannot read the cluster: {e}"),
                });
                Vec::new()
            }
        };
        (Mode::Cluster, results, 0)
    } else if args.offline {
        let results = candidates.into_iter().map(admission_only).collect();
        (Mode::Offline, results, 0)
    } else {
        let (results, calls) = described(args, candidates, extra).await;
        (Mode::Describe, results, calls)
    }
}

/// `--offline`: admission's verdict alone.
fn admission_only(candidate: Candidate) -> CheckResult {
    match candidate.admitted {
        Ok(_) => CheckResult::new(
            candidate.subject,
            Verdict {
                outcome: verdict::Outcome::Valid,
                reason: None,
                message: "the API server would admit it".into(),
                unmet: Vec::new(),
            },
        ),
        Err(refused) => invalid(candidate.subject, refused),
    }
}

/// Prints the report in `format`; the exit code is the report's, or 2 when it cannot be
/// printed.
fn print_report(report: &Report, format: CheckFormat) -> ExitCode {
    let printed = match format {
        CheckFormat::Table => Ok(report.table()),
        CheckFormat::Json => report.json().map_err(|e| e.to_string()),
        CheckFormat::Junit => report.junit().map_err(|e| e.to_string()),
        CheckFormat::Github => Ok(report.github()),
    };
    match printed {
        Ok(text) => print!("{text}"),
        Err(e) => {
            eprintln!("error: cannot print the report: {e}");
            return ExitCode::from(report::EXIT_INPUT);
        }
    }
    ExitCode::from(report.exit_code())
}

/// A ConnectorInfo document with its admission verdict; other kinds are not ours.
fn candidate(document: Document) -> Option<Candidate> {
    if !admission::is_connector_info(&document.value) {
        return None;
    }
    let text = |pointer: &str| {
        document
            .value
            .pointer(pointer)
            .and_then(|v| v.as_str())
            .map(str::to_owned)
    };
    let subject = Subject {
        source: Some(document.source.clone()),
        namespace: text("/metadata/namespace"),
        name: text("/metadata/name"),
        connector_type: text("/spec/connectorType"),
        connector_label: text("/spec/connectorLabel"),
        region: text("/spec/region"),
    };
    Some(Candidate {
        subject,
        admitted: admission::admit(&document.value),
    })
}

fn invalid(subject: Subject, refused: admission::Refused) -> CheckResult {
    CheckResult::invalid(subject, refused.0.iter().map(ToString::to_string).collect())
}

/// Describes every admitted object through the controller's observation path, with one
/// cache for all: objects naming the same connector share one DescribeConnector call.
async fn described(
    args: &CheckArgs,
    candidates: Vec<Candidate>,
    extra: &Requirements,
) -> (Vec<CheckResult>, usize) {
    let appflow = Arc::new(AppFlow::load(&args.aws.settings()).await);
    let cache = DescribeCache::default();
    let policy = Policy::default();
    let checks = candidates.into_iter().map(|c| {
        let (appflow, cache, policy) = (&appflow, &cache, &policy);
        async move {
            let mut object = match c.admitted {
                Ok(object) => object,
                Err(refused) => return (invalid(c.subject, refused), false),
            };
            let required = verdict::merge(object.spec.requirements.as_ref(), extra);
            object.spec.requirements = Some(required.clone());
            object.metadata.generation = Some(1);
            object.status = None;
            match observe::observe_once(appflow, cache, &object, policy).await {
                Ok(observed) => {
                    let judged =
                        verdict::judge(Some(&observed.computed.status), Some(1), &required);
                    (CheckResult::new(c.subject, judged), observed.call.is_some())
                }
                // This cache has no rate limit, so every describe is answered.
                Err(limited) => (
                    CheckResult::new(
                        c.subject,
                        Verdict {
                            outcome: verdict::Outcome::Failed,
                            reason: Some("Throttled".into()),
                            message: format!("no AWS call could start: {limited:?}"),
                            unmet: Vec::new(),
                        },
                    ),
                    false,
                ),
            }
        }
    });
    let done: Vec<(CheckResult, bool)> = futures::stream::iter(checks)
        .buffered(DESCRIBE_CONCURRENCY)
        .collect()
        .await;
    let calls = done.iter().filter(|(_, called)| *called).count();
    (done.into_iter().map(|(result, _)| result).collect(), calls)
}

/// Judges the live objects: those the manifests name (looked up by namespace and name), or
/// every ConnectorInfo in the namespace (`-A`: in all namespaces) when no manifest is given.
async fn from_cluster(
    args: &CheckArgs,
    candidates: Vec<Candidate>,
    extra: &Requirements,
) -> Result<Vec<CheckResult>, kube::Error> {
    let config = cluster_config(args).await?;
    let default_namespace = args
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let client = kube::Client::try_from(config)?;
    if args.paths.is_empty() {
        let api: Api<ConnectorInfo> = if args.all_namespaces {
            Api::all(client)
        } else {
            Api::namespaced(client, &default_namespace)
        };
        return listed(&api, extra).await;
    }
    let mut results = Vec::new();
    for candidate in candidates {
        results.push(looked_up(&client, &default_namespace, candidate, extra).await?);
    }
    Ok(results)
}

/// Every ConnectorInfo `api` lists, by namespace and name.
async fn listed(
    api: &Api<ConnectorInfo>,
    extra: &Requirements,
) -> Result<Vec<CheckResult>, kube::Error> {
    let mut objects = api.list(&ListParams::default()).await?.items;
    objects.sort_by_key(|o| (o.metadata.namespace.clone(), o.metadata.name.clone()));
    Ok(objects.iter().map(|o| judge_live(o, None, extra)).collect())
}

/// The live object a manifest names (in the default namespace when it names none); a manifest
/// the API server would refuse is judged as such, without a lookup.
async fn looked_up(
    client: &kube::Client,
    default_namespace: &str,
    candidate: Candidate,
    extra: &Requirements,
) -> Result<CheckResult, kube::Error> {
    if let Err(refused) = candidate.admitted {
        return Ok(invalid(candidate.subject, refused));
    }
    let mut subject = candidate.subject;
    let namespace = subject
        .namespace
        .get_or_insert_with(|| default_namespace.to_owned())
        .clone();
    let Some(name) = subject.name.clone() else {
        return Ok(CheckResult::invalid(
            subject,
            vec!["metadata.name: Required value".into()],
        ));
    };
    let api: Api<ConnectorInfo> = Api::namespaced(client.clone(), &namespace);
    let result = match api.get_opt(&name).await? {
        Some(live) => judge_live(&live, subject.source, extra),
        None => CheckResult::new(
            subject,
            Verdict {
                outcome: verdict::Outcome::Pending,
                reason: None,
                message: format!("ConnectorInfo {namespace}/{name} does not exist in the cluster"),
                unmet: Vec::new(),
            },
        ),
    };
    Ok(result)
}

/// A live object's status against its own requirements and the organisation's.
fn judge_live(object: &ConnectorInfo, source: Option<Source>, extra: &Requirements) -> CheckResult {
    let required = verdict::merge(object.spec.requirements.as_ref(), extra);
    let judged = verdict::judge(
        object.status.as_ref(),
        object.metadata.generation,
        &required,
    );
    CheckResult::new(subject_of(object, source), judged)
}

/// The kubeconfig and context asked for, or the usual inference.
async fn cluster_config(args: &CheckArgs) -> Result<kube::Config, kube::Error> {
    super::kubeconfig::config(args.kubeconfig.as_deref(), args.context.as_deref()).await
}

fn subject_of(object: &ConnectorInfo, source: Option<Source>) -> Subject {
    Subject {
        source,
        namespace: object.metadata.namespace.clone(),
        name: object.metadata.name.clone(),
        connector_type: Some(object.spec.connector_type.as_str().to_owned()),
        connector_label: object.spec.connector_label.clone(),
        region: object.spec.region.clone(),
    }
}
