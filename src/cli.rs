//! Command-line interface.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::appflow::AwsSettings;
use crate::crd::ConnectorType;

#[derive(Parser, Debug)]
#[command(
    name = "appflow-connector-operator",
    version,
    about = "Mirrors Amazon AppFlow DescribeConnector into ConnectorInfo resources"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Run the controller against the cluster of the current kubeconfig or in-cluster config.
    Run(Box<RunArgs>),
    /// Print the ConnectorInfo CRD as YAML.
    Crd,
    /// Describe one connector and print the status the operator would write
    /// (exit 0 when Ready would be True, 1 when False, 2 for usage errors).
    Describe(DescribeArgs),
}

#[derive(Args, Debug, Clone)]
pub struct AwsArgs {
    /// Region for ConnectorInfos that name none (default: the AWS configuration chain).
    #[arg(long, env = "APPFLOW_OPERATOR_REGION")]
    pub region: Option<String>,
    /// AppFlow endpoint override (VPC endpoint, emulator). AWS_ENDPOINT_URL_APPFLOW also works.
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
    /// A describe failure that is retried (AccessDenied, Throttled, ServiceError, …) and has
    /// lasted longer than this also sets Stalled=True, so GitOps tools show it as failed while
    /// retries go on (10s to 24h).
    #[arg(long, default_value = "10m", value_parser = parse_stalled_after)]
    pub stalled_after: std::time::Duration,
    /// DescribeConnector calls per second at most, for the whole operator (AppFlow's quota is
    /// per account and shared with everyone in it); lowered further while AWS throttles.
    /// 0 turns the limit off.
    #[arg(long, default_value_t = 5.0, value_parser = parse_rate)]
    pub aws_rate_limit: f64,
    /// Calls that may go out at once before the rate applies.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u32).range(1..=1000))]
    pub aws_burst: u32,
    /// Regions a ConnectorInfo's spec.region may name, comma-separated (default: any).
    /// Objects that name no region use the operator's region.
    #[arg(long, value_delimiter = ',', env = "APPFLOW_OPERATOR_ALLOWED_REGIONS")]
    pub allowed_regions: Vec<String>,
    /// Address of the /metrics, /healthz and /readyz server.
    #[arg(long, default_value = "0.0.0.0:8080")]
    pub metrics_addr: SocketAddr,
    /// Watch only this namespace (default: all namespaces).
    #[arg(long, env = "APPFLOW_OPERATOR_WATCH_NAMESPACE")]
    pub watch_namespace: Option<String>,
    /// ConnectorInfos reconciled at the same time.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u16).range(1..))]
    pub concurrency: u16,
    #[command(flatten)]
    pub leader: LeaderArgs,
    #[command(flatten)]
    pub log: LogArgs,
    #[command(flatten)]
    pub pod: PodArgs,
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
    /// renews a third of this before expiry and stops leading a sixth before it.
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
        crate::leader::MIN_LEASE_DURATION,
        crate::leader::MAX_LEASE_DURATION,
        "between 3s and 5m",
    )?;
    if parsed.subsec_nanos() != 0 {
        return Err("must be whole seconds (the Lease stores seconds)".to_owned());
    }
    Ok(parsed)
}

fn parse_duration(text: &str) -> Result<std::time::Duration, String> {
    crate::interval::parse(text).map_err(|e| e.to_string())
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
    if crate::interval::clamp(duration).clamped {
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

    #[test]
    fn bad_values_are_usage_errors() {
        for args in [
            &["x", "run", "--log-level", "appflow=[bogus"][..],
            &["x", "run", "--default-refresh-interval", "1ms"],
            &["x", "run", "--min-describe-interval", "2h"],
            &["x", "run", "--aws-timeout", "99999999999999999999h"],
            &["x", "run", "--aws-rate-limit", "NaN"],
            &["x", "run", "--aws-burst", "0"],
            &["x", "describe", "--connector-type", "Salesforse"],
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
    }
}
