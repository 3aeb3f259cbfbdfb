//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use conninfo_aws::appflow::AwsSettings;
use conninfo_core::crd::ConnectorType;

#[derive(Parser, Debug)]
#[command(
    name = "appflow-connector-operator",
    version = VERSION,
    about = "Mirrors Amazon AppFlow DescribeConnector into ConnectorInfo resources"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

/// What `--version` prints after the name: the release, the git commit it was built from and
/// when it was built (build.rs; release builds pin the date to the commit's).
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("APPFLOW_BUILD_COMMIT"),
    ", built ",
    env!("APPFLOW_BUILD_DATE"),
    ")"
);

/// The name kubectl finds plugins by: `kubectl conninfo …` runs `kubectl-conninfo …`.
pub const KUBECTL_PLUGIN: &str = "kubectl-conninfo";

/// Parses the command line, exiting with clap's usage error (2) on a bad one. Installed (or
/// linked) as `kubectl-conninfo`, the binary speaks as the kubectl plugin `kubectl conninfo`.
pub fn parse_args<I, T>(args: I) -> Cli
where
    I: IntoIterator<Item = T>,
    T: Into<std::ffi::OsString> + Clone,
{
    let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
    let as_plugin = args
        .first()
        .is_some_and(|first| invoked_as_plugin(first.as_ref()));
    let mut command = <Cli as clap::CommandFactory>::command();
    if as_plugin {
        command = command.bin_name("kubectl conninfo");
    }
    let matches = command.get_matches_from(args);
    <Cli as clap::FromArgMatches>::from_arg_matches(&matches).unwrap_or_else(|e| e.exit())
}

/// Whether argv[0] names the kubectl plugin (`kubectl-conninfo`, `kubectl-conninfo.exe`).
pub fn invoked_as_plugin(argv0: &std::path::Path) -> bool {
    argv0.file_stem().is_some_and(|stem| stem == KUBECTL_PLUGIN)
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller against the cluster of the current kubeconfig or in-cluster config.
    Run(Box<RunArgs>),
    /// Print the CRDs as YAML (both, as one multi-document stream, unless one is named).
    Crd(CrdArgs),
    /// Describe one connector and print the status the operator would write
    /// (exit 0 when Ready would be True, 1 when False, 2 for usage errors).
    Describe(DescribeArgs),
    /// Check the ConnectorInfos in manifests (files, directories, `-` for stdin) as admission
    /// and the controller would, or the live objects with --from-cluster (exit 0 when every
    /// one would be Ready, 1 when any would not, 2 for usage errors or unreadable input).
    Check(Box<CheckArgs>),
    /// Rewrite every stored ConnectorInfo and AppFlowAccount in the CRDs' storage version
    /// (v1beta1), then trim the CRDs' status.storedVersions to it, so that a later release
    /// can stop serving the old versions (exit 0 when done, 1 on a failure).
    Migrate(MigrateArgs),
}

#[derive(Args, Debug, Clone)]
pub struct MigrateArgs {
    /// The kubeconfig context to use.
    #[arg(long)]
    pub context: Option<String>,
    /// The kubeconfig file to use (default: KUBECONFIG, ~/.kube/config, then the in-cluster
    /// service account).
    #[arg(long)]
    pub kubeconfig: Option<PathBuf>,
}

#[derive(Args, Debug, Clone)]
#[command(args_conflicts_with_subcommands = true)]
pub struct CrdArgs {
    /// Only this CRD.
    #[arg(value_enum)]
    pub name: Option<CrdName>,
    #[command(subcommand)]
    pub action: Option<CrdAction>,
}

#[derive(Subcommand, Debug, Clone)]
pub enum CrdAction {
    /// Take CRDs that exist but belong to no Helm release (an older chart installed them from
    /// its crds/ directory, or kubectl did) into a release: each one is replaced by the
    /// chart's rendering of it, with Helm's ownership label and annotations. CRDs that are
    /// absent or already the release's are left alone; one that belongs to another release is
    /// an error. The chart runs this as a pre-install/pre-upgrade hook (exit 0 when done, 1 on
    /// a failure).
    Adopt(AdoptArgs),
}

#[derive(Args, Debug, Clone)]
pub struct AdoptArgs {
    /// The Helm release that takes the CRDs over.
    #[arg(long)]
    pub release_name: String,
    /// The namespace of that release.
    #[arg(long)]
    pub release_namespace: String,
    /// The CRDs as the chart renders them: one YAML file, one CRD per document.
    #[arg(short = 'f', long = "filename")]
    pub file: PathBuf,
}

/// The CRDs the operator defines, by plural name.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CrdName {
    Connectorinfos,
    Appflowaccounts,
}

#[derive(Args, Debug, Clone)]
pub struct AwsArgs {
    /// Region for ConnectorInfos that name none (default: the AWS configuration chain).
    #[arg(long, env = "APPFLOW_OPERATOR_REGION")]
    pub region: Option<String>,
    /// Endpoint override for every AWS service the operator calls (AppFlow, and STS for
    /// AppFlowAccount roles), like AWS_ENDPOINT_URL: the emulator. For a VPC endpoint of one
    /// service, set AWS_ENDPOINT_URL_APPFLOW or AWS_ENDPOINT_URL_STS instead.
    #[arg(long, env = "APPFLOW_OPERATOR_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Timeout of one AppFlow call attempt (at most 5m).
    #[arg(long, default_value = "10s", value_parser = parse_aws_timeout)]
    pub aws_timeout: std::time::Duration,
    /// Attempts the AWS SDK makes per call before the controller's own backoff takes over.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=10))]
    pub aws_max_attempts: u32,
}

impl AwsArgs {
    pub fn settings(&self) -> AwsSettings {
        AwsSettings {
            region: self.region.clone(),
            endpoint_url: self.endpoint_url.clone(),
            attempt_timeout: self.aws_timeout,
            max_attempts: self.aws_max_attempts,
            ..AwsSettings::default()
        }
    }
}

#[derive(Args, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Refresh interval for ConnectorInfos that set none (Go duration; 0s = only on change,
    /// otherwise between 1m and 720h).
    #[arg(long, default_value = "1h", value_parser = parse_refresh_interval)]
    pub default_refresh_interval: std::time::Duration,
    /// Minimum time between two DescribeConnector calls for one ConnectorInfo, whatever its
    /// refresh interval, spec edits or refresh annotations ask (at most 1h).
    #[arg(long, default_value = "10s", value_parser = parse_min_describe_interval)]
    pub min_describe_interval: std::time::Duration,
    /// The least time between two forced DescribeConnector calls of a connector (calls made
    /// only for refresh requests). A refresh request is answered only by a call started at or
    /// after it; one made meanwhile waits for the next forced call, so a fleet annotated at
    /// once costs one call per connector (0s to 1h; 0s: no spacing).
    #[arg(long, default_value = "60s", value_parser = parse_forced_refresh_interval)]
    pub forced_refresh_interval: std::time::Duration,
    /// How long waiting work of each lane (new or changed objects, refresh requests, periodic
    /// refreshes) may wait before it goes ahead of newer work of higher lanes, as
    /// `CHANGED,REFRESH,PERIODIC` (docs/design.md, "Lanes").
    #[arg(long, default_value = "1s,30s,5m", value_parser = parse_lane_bounds)]
    pub lane_bounds: conninfo_core::lanes::Bounds,
    /// A describe failure that is retried (AccessDenied, Throttled, ServiceError, …) and has
    /// lasted longer than this also sets Stalled=True, so GitOps tools show it as failed while
    /// retries go on (10s to 24h).
    #[arg(long, default_value = "10m", value_parser = parse_stalled_after)]
    pub stalled_after: std::time::Duration,
    /// DescribeConnector calls per second at most, per AWS identity: the operator's own and
    /// each AppFlowAccount role (AppFlow's quota is per account and shared with everyone in
    /// it); lowered further while AWS throttles that identity. 0 turns the limit off.
    #[arg(long, default_value_t = 5.0, value_parser = parse_rate)]
    pub aws_rate_limit: f64,
    /// Calls that may go out at once before the rate applies.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub aws_burst: u32,
    /// Regions a ConnectorInfo's spec.region may name, comma-separated (default: any).
    /// Objects that name no region use the operator's region.
    #[arg(long, value_delimiter = ',', env = "APPFLOW_OPERATOR_ALLOWED_REGIONS")]
    pub allowed_regions: Vec<String>,
    /// Address of the plain-HTTP server of /healthz and /readyz (the kubelet's probes send
    /// no token), and of /metrics too with --metrics-secure=false.
    #[arg(long, default_value = "0.0.0.0:8081")]
    pub health_addr: SocketAddr,
    #[command(flatten)]
    pub metrics: MetricsArgs,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "APPFLOW_OPERATOR_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// ConnectorInfos reconciled at the same time (and Events published at the same time).
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    /// How the ConnectorInfo watch lists everything, at start and after its resource version
    /// expired: `auto` streams the list where the API server serves streaming lists (the
    /// WatchList feature; asked once at start) and pages it elsewhere.
    #[arg(long, value_enum, default_value_t = InitialList::Auto)]
    pub initial_list: InitialList,
    /// ConnectorInfos in namespaces that no AppFlowAccount binds: described with the
    /// operator's own identity, or refused (a terminal InvalidRequest naming the missing
    /// binding).
    #[arg(long, value_enum, default_value_t = UnmappedNamespaces::OperatorIdentity, env = "APPFLOW_OPERATOR_UNMAPPED_NAMESPACES")]
    pub unmapped_namespaces: UnmappedNamespaces,
    /// Watch AppFlowAccount bindings and namespaces (cluster-wide read of both). `false`: every
    /// namespace uses the operator's own identity, and `--unmapped-namespaces=deny` is refused.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set)]
    pub account_bindings: bool,
    #[command(flatten)]
    pub leader: LeaderArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub pod: PodArgs,
}

/// The /metrics server, in controller-runtime's (kubebuilder v4's) sense of secure metrics.
#[derive(Args, Debug, Clone)]
pub struct MetricsArgs {
    /// Serve /metrics over HTTPS on --metrics-addr, answered only to a bearer token whose
    /// user the API server allows `get` on the non-resource URL /metrics (TokenReview, then
    /// SubjectAccessReview). false: plain HTTP without authentication on --health-addr, for
    /// local runs only.
    #[arg(long, default_value_t = true, action = clap::ArgAction::Set, env = "APPFLOW_OPERATOR_METRICS_SECURE")]
    pub metrics_secure: bool,
    /// Address of the HTTPS /metrics server (with --metrics-secure).
    #[arg(long, default_value = "0.0.0.0:8443")]
    pub metrics_addr: SocketAddr,
    /// Directory holding the HTTPS serving certificate as tls.crt and tls.key (a mounted
    /// cert-manager or `kubectl create secret tls` Secret), re-read when they change.
    /// Default: a self-signed certificate generated at start.
    #[arg(long, env = "APPFLOW_OPERATOR_METRICS_CERT_DIR")]
    pub metrics_cert_dir: Option<PathBuf>,
}

/// Leader election, in controller-runtime's spelling.
#[derive(Args, Debug, Clone)]
pub struct LeaderArgs {
    /// Elect one leader among replicas on a Lease: only the leader calls AWS and writes;
    /// the others keep a warm cache and take over when it goes.
    #[arg(long)]
    pub leader_elect: bool,
    /// Name of the Lease.
    #[arg(long, default_value = "appflow-connector-operator")]
    pub leader_election_id: String,
    /// Namespace of the Lease (default: POD_NAMESPACE, else the client's default namespace).
    #[arg(long)]
    pub leader_election_namespace: Option<String>,
    /// How long a leader that stops renewing keeps the Lease (3s to 5m, whole seconds). It
    /// renews halfway through and stops leading a sixth before expiry.
    #[arg(long, default_value = "15s", value_parser = parse_lease_duration)]
    pub leader_election_lease_duration: std::time::Duration,
}

/// Where this replica runs (the chart sets both from the downward API).
#[derive(Args, Debug, Clone)]
pub struct PodArgs {
    /// This pod's name: names the replica in the Events it publishes.
    #[arg(long, env = "POD_NAME")]
    pub pod_name: Option<String>,
    /// This pod's namespace.
    #[arg(long, env = "POD_NAMESPACE")]
    pub pod_namespace: Option<String>,
}

#[derive(Args, Debug)]
pub struct LogArgs {
    /// Log format.
    #[arg(long, value_enum, default_value_t = LogFormat::Plain, env = "APPFLOW_OPERATOR_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Log filter (tracing EnvFilter syntax), e.g. `info` or `appflow_connector_operator=debug`.
    #[arg(long, default_value = "info", env = "APPFLOW_OPERATOR_LOG_LEVEL", value_parser = parse_log_filter)]
    pub log_level: String,
}

/// `--unmapped-namespaces`.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum InitialList {
    Auto,
    Streaming,
    Paged,
}

impl From<InitialList> for conninfo_runtime::initial_list::Choice {
    fn from(value: InitialList) -> Self {
        use conninfo_runtime::initial_list::{Choice, ListMode};
        match value {
            InitialList::Auto => Choice::Ask,
            InitialList::Streaming => Choice::Always(ListMode::Streaming),
            InitialList::Paged => Choice::Always(ListMode::Paged),
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnmappedNamespaces {
    OperatorIdentity,
    Deny,
}

impl From<UnmappedNamespaces> for conninfo_core::account::Unmapped {
    fn from(value: UnmappedNamespaces) -> Self {
        match value {
            UnmappedNamespaces::OperatorIdentity => Self::OperatorIdentity,
            UnmappedNamespaces::Deny => Self::Deny,
        }
    }
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogFormat {
    Plain,
    Json,
}

#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum OutputFormat {
    Yaml,
    Json,
}

/// `check`'s report formats.
#[derive(ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum CheckFormat {
    /// One line per object, then a summary.
    Table,
    /// The report as JSON (schema: docs/check-report.schema.json).
    Json,
    /// JUnit XML: one testcase per ConnectorInfo.
    Junit,
    /// GitHub Actions annotations (`::error file=…,line=…::…`).
    Github,
}

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// Manifests: files, directories (walked recursively for .yaml, .yml and .json) or `-`
    /// for standard input. With --from-cluster, the live objects they name.
    #[arg(value_name = "PATH", required_unless_present = "from_cluster")]
    pub paths: Vec<PathBuf>,
    /// Stop after the admission checks: no AWS call, no credentials needed.
    #[arg(long, conflicts_with = "from_cluster")]
    pub offline: bool,
    /// Judge the live objects' status instead of calling AWS (post-sync gates).
    #[arg(long)]
    pub from_cluster: bool,
    /// The kubeconfig context to use (with --from-cluster).
    #[arg(long, requires = "from_cluster")]
    pub context: Option<String>,
    /// The kubeconfig file to use (with --from-cluster; default: KUBECONFIG, ~/.kube/config,
    /// then the in-cluster service account).
    #[arg(long, requires = "from_cluster")]
    pub kubeconfig: Option<PathBuf>,
    /// Namespace of the objects (with --from-cluster; default: the context's).
    #[arg(short = 'n', long, requires = "from_cluster")]
    pub namespace: Option<String>,
    /// Every namespace (with --from-cluster and no PATH).
    #[arg(short = 'A', long, requires = "from_cluster", conflicts_with_all = ["namespace", "paths"])]
    pub all_namespaces: bool,
    /// A requirement every checked ConnectorInfo must also meet, as KEY=VALUE[,VALUE…] with
    /// the keys of spec.requirements (authModes, oauth2GrantTypes, customAuthTypes, usableAs).
    /// Repeatable.
    #[arg(long = "require", value_name = "KEY=VALUES", value_parser = conninfo_core::check::verdict::parse_requirement)]
    pub require: Vec<conninfo_core::crd::Requirements>,
    /// Report format.
    #[arg(short = 'o', long, value_enum, default_value_t = CheckFormat::Table)]
    pub output: CheckFormat,
    #[command(flatten)]
    pub aws: AwsArgs,
}

#[derive(Args, Debug)]
pub struct DescribeArgs {
    /// A ConnectorInfo manifest; its requirements are evaluated too.
    #[arg(short = 'f', long = "filename", conflicts_with_all = ["connector_type", "connector_label"], required_unless_present = "connector_type")]
    pub file: Option<PathBuf>,
    /// Connector type, spelled as AWS spells it (e.g. Salesforce, CustomConnector).
    #[arg(long, value_parser = parse_connector_type)]
    pub connector_type: Option<ConnectorType>,
    /// Label of a custom connector.
    #[arg(long)]
    pub connector_label: Option<String>,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Output format.
    #[arg(short = 'o', long, value_enum, default_value_t = OutputFormat::Yaml)]
    pub output: OutputFormat,
}

/// A bad filter is a usage error, not a silent fallback.
fn parse_log_filter(text: &str) -> Result<String, String> {
    tracing_subscriber::EnvFilter::try_new(text)
        .map(|_| text.to_owned())
        .map_err(|e| format!("not a log filter: {e}"))
}

fn parse_rate(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(rate) if rate.is_finite() && (0.0..=1000.0).contains(&rate) => Ok(rate),
        _ => Err("must be a number of calls per second from 0 (no limit) to 1000".to_owned()),
    }
}

fn parse_stalled_after(text: &str) -> Result<std::time::Duration, String> {
    parse_bounded(
        text,
        std::time::Duration::from_secs(10),
        std::time::Duration::from_secs(24 * 3600),
        "between 10s and 24h",
    )
}

fn parse_lease_duration(text: &str) -> Result<std::time::Duration, String> {
    let parsed = parse_bounded(
        text,
        conninfo_runtime::leader::MIN_LEASE_DURATION,
        conninfo_runtime::leader::MAX_LEASE_DURATION,
        "between 3s and 5m",
    )?;
    if parsed.subsec_nanos() != 0 {
        return Err("must be whole seconds (the Lease stores seconds)".to_owned());
    }
    Ok(parsed)
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    conninfo_core::interval::parse(text).map_err(|e| e.to_string())
}

fn parse_bounded(
    text: &str,
    min: std::time::Duration,
    max: std::time::Duration,
    bounds: &str,
) -> Result<std::time::Duration, String> {
    let duration = parse_duration(text)?;
    if duration < min || duration > max {
        return Err(format!("must be {bounds}"));
    }
    Ok(duration)
}

fn parse_refresh_interval(text: &str) -> Result<std::time::Duration, String> {
    let duration = parse_duration(text)?;
    if conninfo_core::interval::clamp(duration).clamped {
        return Err("must be 0s (only on change) or between 1m and 720h".to_owned());
    }
    Ok(duration)
}

fn parse_min_describe_interval(text: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    parse_bounded(
        text,
        Duration::ZERO,
        Duration::from_secs(3600),
        "between 0s and 1h",
    )
}

fn parse_lane_bounds(text: &str) -> Result<conninfo_core::lanes::Bounds, String> {
    use std::time::Duration;
    let bound = |t: &str| {
        parse_bounded(
            t.trim(),
            Duration::from_millis(1),
            Duration::from_secs(24 * 3600),
            "between 1ms and 24h",
        )
    };
    match text.split(',').collect::<Vec<_>>()[..] {
        [changed, refresh, periodic] => Ok(conninfo_core::lanes::Bounds {
            changed: bound(changed)?,
            refresh: bound(refresh)?,
            periodic: bound(periodic)?,
        }),
        _ => Err("must be three durations: CHANGED,REFRESH,PERIODIC (e.g. 1s,30s,5m)".to_owned()),
    }
}

fn parse_forced_refresh_interval(text: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    parse_bounded(
        text,
        Duration::ZERO,
        Duration::from_secs(3600),
        "between 0s and 1h",
    )
}

fn parse_aws_timeout(text: &str) -> Result<std::time::Duration, String> {
    use std::time::Duration;
    parse_bounded(
        text,
        Duration::from_millis(100),
        Duration::from_secs(300),
        "between 100ms and 5m",
    )
}

fn parse_connector_type(text: &str) -> Result<ConnectorType, String> {
    text.parse()
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_is_well_formed() {
        Cli::command().debug_assert();
    }

    fn crd_args(args: &[&str]) -> CrdArgs {
        match Cli::try_parse_from(args).expect("crd args").command {
            Command::Crd(crd) => crd,
            other => panic!("not crd: {other:?}"),
        }
    }

    #[test]
    fn crd_prints_one_or_both_and_adopts_as_its_subcommand() {
        let both = crd_args(&["x", "crd"]);
        assert!(both.name.is_none() && both.action.is_none());
        let one = crd_args(&["x", "crd", "appflowaccounts"]);
        assert_eq!(one.name, Some(CrdName::Appflowaccounts));
        assert!(one.action.is_none());
        let adopt = crd_args(&[
            "x",
            "crd",
            "adopt",
            "--release-name",
            "appflow",
            "--release-namespace",
            "appflow-system",
            "-f",
            "/crds/crds.yaml",
        ]);
        let Some(CrdAction::Adopt(adopt)) = adopt.action else {
            panic!("not adopt: {adopt:?}");
        };
        assert_eq!(adopt.release_name, "appflow");
        assert_eq!(adopt.release_namespace, "appflow-system");
        assert_eq!(adopt.file, std::path::Path::new("/crds/crds.yaml"));
        for bad in [
            &["x", "crd", "adopt", "-f", "crds.yaml"][..],
            &[
                "x",
                "crd",
                "adopt",
                "--release-name",
                "a",
                "--release-namespace",
                "b",
            ],
            &["x", "crd", "connectorinfos", "adopt"],
            &["x", "crd", "secrets"],
        ] {
            let error = Cli::try_parse_from(bad).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{bad:?}: {error}");
        }
    }

    #[test]
    fn the_version_names_the_release_a_commit_and_a_build_time() {
        let rest = VERSION
            .strip_prefix(concat!(env!("CARGO_PKG_VERSION"), " (commit "))
            .expect(VERSION);
        let (commit, date) = rest
            .strip_suffix(')')
            .and_then(|r| r.split_once(", built "))
            .expect(VERSION);
        assert!(
            commit == "unknown"
                || (commit.len() == 40 && commit.chars().all(|c| c.is_ascii_hexdigit())),
            "{commit}"
        );
        date.parse::<jiff::Timestamp>().expect(date);
        assert!(date.ends_with('Z'), "{date}");
    }

    #[test]
    fn the_kubectl_plugin_name_is_recognised() {
        use std::path::Path;
        assert!(invoked_as_plugin(Path::new(
            "/usr/local/bin/kubectl-conninfo"
        )));
        assert!(invoked_as_plugin(Path::new("kubectl-conninfo.exe")));
        assert!(!invoked_as_plugin(Path::new("appflow-connector-operator")));
        let cli = parse_args(["kubectl-conninfo", "check", "-", "--offline"]);
        assert!(matches!(cli.command, Command::Check(args) if args.offline));
    }

    #[test]
    fn check_accepts_the_documented_forms() {
        let Command::Check(args) = Cli::try_parse_from([
            "x",
            "check",
            "apps/",
            "-",
            "--require",
            "authModes=OAuth2,ApiKey",
            "--require",
            "usableAs=Source",
            "-o",
            "junit",
        ])
        .unwrap()
        .command
        else {
            panic!("not check");
        };
        assert_eq!(args.paths.len(), 2);
        assert_eq!(args.require.len(), 2);
        assert_eq!(args.output, CheckFormat::Junit);
        assert!(Cli::try_parse_from(["x", "check", "--from-cluster", "-A"]).is_ok());
        assert!(
            Cli::try_parse_from([
                "x",
                "check",
                "--from-cluster",
                "--context",
                "prod",
                "-n",
                "a",
                "m.yaml"
            ])
            .is_ok()
        );
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["x", "run", "--log-level", "appflow=[bogus"][..],
            &["x", "run", "--default-refresh-interval", "1ms"],
            &["x", "run", "--min-describe-interval", "2h"],
            &["x", "run", "--forced-refresh-interval", "2h"],
            &["x", "run", "--aws-timeout", "99999999999999999999h"],
            &["x", "run", "--aws-rate-limit", "NaN"],
            &["x", "run", "--aws-burst", "0"],
            &["x", "describe", "--connector-type", "Salesforse"],
            &["x", "check"],
            &["x", "check", ".", "--require", "colour=blue"],
            &["x", "check", ".", "--require", "authModes=Kerberos"],
            &["x", "check", ".", "-A"],
            &["x", "check", ".", "--offline", "--from-cluster"],
            &["x", "check", "--from-cluster", "-A", "-n", "team-a"],
            &["x", "check", ".", "-o", "xml"],
        ] {
            let error = Cli::try_parse_from(args).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{args:?}: {error}");
        }
        let Command::Run(run) = Cli::try_parse_from([
            "x",
            "run",
            "--allowed-regions",
            "us-east-1,eu-west-1",
            "--pod-name",
            "p-1",
        ])
        .unwrap()
        .command
        else {
            panic!("run")
        };
        assert_eq!(run.allowed_regions, ["us-east-1", "eu-west-1"]);
        assert_eq!(run.pod.pod_name.as_deref(), Some("p-1"));
        assert_eq!(
            run.forced_refresh_interval,
            std::time::Duration::from_secs(60)
        );
    }

    fn run_args(args: &[&str]) -> Box<RunArgs> {
        let argv = ["x", "run"].iter().chain(args);
        match Cli::try_parse_from(argv).expect("run args").command {
            Command::Run(run) => run,
            other => panic!("not run: {other:?}"),
        }
    }

    #[test]
    fn metrics_are_served_over_https_apart_from_the_probes_by_default() {
        let run = run_args(&[]);
        assert!(run.metrics.metrics_secure);
        assert_eq!(run.metrics.metrics_addr, "0.0.0.0:8443".parse().unwrap());
        assert_eq!(run.health_addr, "0.0.0.0:8081".parse().unwrap());
        assert_eq!(run.metrics.metrics_cert_dir, None);

        let run = run_args(&[
            "--metrics-secure=false",
            "--health-addr",
            "127.0.0.1:0",
            "--metrics-cert-dir",
            "/certs",
        ]);
        assert!(!run.metrics.metrics_secure);
        assert_eq!(run.health_addr, "127.0.0.1:0".parse().unwrap());
        assert_eq!(
            run.metrics.metrics_cert_dir.as_deref(),
            Some(std::path::Path::new("/certs"))
        );
        for bad in [
            &["--metrics-secure", "maybe"][..],
            &["--metrics-addr", "8443"],
            &["--health-addr", "localhost"],
        ] {
            let argv = ["x", "run"].iter().chain(bad);
            assert_eq!(
                Cli::try_parse_from(argv).unwrap_err().exit_code(),
                2,
                "{bad:?}"
            );
        }
    }
}
