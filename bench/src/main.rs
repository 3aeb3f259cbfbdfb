//! `make bench`: the operator at fleet scale, on the real local control plane (kube-apiserver +
//! etcd from Go modules) and the AppFlow emulator answering in 50 ms under an account quota of
//! 10 requests/s. For each N (`BENCH_SIZES`, default `1000,10000`) it creates N ConnectorInfos in
//! 20 namespaces over 50 distinct connector keys, measures the API server's own ceiling for N
//! server-side applies of the same statuses at the operator's concurrency, then starts the
//! release operator and measures time to all Ready, AWS calls per key, status writes,
//! throttling, a steady window, one forced refresh of every object, peak RSS and CPU. Writes `target/bench/results.json`, `results.md` and `chart.svg`.
//!
//! A benchmark, not a test: it prints numbers and asserts nothing.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{Api, DynamicObject, Patch, PatchParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use serde::Serialize;
use serde_json::json;

use conninfo_test_support::controlplane::ControlPlane;
use conninfo_test_support::process;

type Error = Box<dyn std::error::Error + Send + Sync>;

const NAMESPACES: usize = 20;
/// The operator's `--concurrency` (its default, 4), and the ceiling loop's; `BENCH_CONCURRENCY`
/// changes both.
fn concurrency() -> usize {
    std::env::var("BENCH_CONCURRENCY")
        .ok()
        .and_then(|c| c.parse().ok())
        .filter(|c| *c > 0)
        .unwrap_or(4)
}
/// Extra operator flags, `BENCH_OPERATOR_ARGS` split on whitespace (e.g.
/// `--account-bindings=false`), to compare a feature's cost with the same harness.
fn extra_operator_args() -> Vec<String> {
    std::env::var("BENCH_OPERATOR_ARGS")
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_owned)
        .collect()
}
/// The 23 vended types (the emulator's list, from AWS's model); the other 27 keys are custom
/// connectors `bench-0` … `bench-26`.
const VENDED: &[&str] = appflow_emulator::VENDED_CONNECTOR_TYPES;
const KEYS: usize = 50;

#[derive(Serialize)]
struct Results {
    machine: String,
    concurrency: usize,
    idle_rss_mib: f64,
    runs: Vec<Run>,
}

#[derive(Serialize)]
struct Run {
    objects: usize,
    keys: usize,
    seconds_to_all_ready: f64,
    apiserver_ceiling_seconds: f64,
    ratio_to_ceiling: f64,
    describe_calls_first_sync: u64,
    calls_per_key_first_sync: f64,
    status_writes_per_object_to_ready: f64,
    steady_window_seconds: u64,
    steady_status_writes: u64,
    steady_describe_calls: u64,
    throttled_answers: u64,
    forced_refresh_seconds: f64,
    describe_calls_forced_refresh: u64,
    calls_per_key_forced_refresh: f64,
    peak_rss_mib: f64,
    cpu_seconds: f64,
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn release_bin(name: &str) -> PathBuf {
    repo().join("target/release").join(name)
}

/// A child process killed on drop.
struct Proc(Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn conninfo_resource() -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk("appflow.connectorinfo.dev", "v1alpha1", "ConnectorInfo"),
        "connectorinfos",
    )
}

async fn client(kubeconfig: &Path) -> Result<kube::Client, Error> {
    let config = kube::Config::from_custom_kubeconfig(
        Kubeconfig::read_from(kubeconfig)?,
        &KubeConfigOptions::default(),
    )
    .await?;
    Ok(kube::Client::try_from(config)?)
}

/// Installs both CRDs (the operator also watches AppFlowAccount bindings) and waits until
/// ConnectorInfos are served.
async fn install_crd(client: &kube::Client) -> Result<(), Error> {
    let api: Api<CustomResourceDefinition> = Api::all(client.clone());
    for name in [
        "appflowaccounts.appflow.connectorinfo.dev",
        "connectorinfos.appflow.connectorinfo.dev",
    ] {
        let text = std::fs::read_to_string(repo().join(format!("crds/{name}.yaml")))?;
        let crd: CustomResourceDefinition = serde_yaml_ng::from_str(&text)?;
        api.patch(
            name,
            &PatchParams::apply("bench").force(),
            &Patch::Apply(&crd),
        )
        .await?;
    }
    let name = "connectorinfos.appflow.connectorinfo.dev";
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let crd = api.get(name).await?;
        let established = crd
            .status
            .and_then(|s| s.conditions)
            .unwrap_or_default()
            .iter()
            .any(|c| c.type_ == "Established" && c.status == "True");
        // Served once a list through the new resource works.
        let served = established
            && Api::<DynamicObject>::all_with(client.clone(), &conninfo_resource())
                .list(&Default::default())
                .await
                .is_ok();
        if served {
            return Ok(());
        }
        if Instant::now() > deadline {
            return Err("the CRD was not served within 60 s".into());
        }
        tokio::time::sleep(Duration::from_millis(200)).await; // poll interval of a readiness check
    }
}

/// Starts the emulator (50 ms per answer; with `quota`, an account quota of 10/s burst 10) with
/// the custom keys.
fn start_emulator(work: &Path, quota: bool) -> Result<(Proc, String), Error> {
    let data = (0..KEYS - VENDED.len())
        .map(|i| format!("  - label: bench-{i}\n"))
        .collect::<String>();
    let path = work.join("emulator-data.yaml");
    std::fs::write(&path, format!("customConnectors:\n{data}"))?;
    let mut child = Command::new(release_bin("appflow-emulator"))
        .args(["--listen", "127.0.0.1:0", "--latency-ms", "50"])
        .args(if quota {
            &["--rate-limit", "10", "--burst", "10"][..]
        } else {
            &[]
        })
        .args(["--log-level", "warn", "--data"])
        .arg(&path)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(child.stdout.take().ok_or("no emulator stdout")?).read_line(&mut line)?;
    let url = line
        .trim()
        .rsplit(' ')
        .next()
        .unwrap_or_default()
        .to_owned();
    Ok((Proc(child), url))
}

fn spec_for(i: usize) -> serde_json::Value {
    let key = i % KEYS;
    match VENDED.get(key) {
        Some(vended) => json!({"connectorType": vended}),
        None => {
            json!({"connectorType": "CustomConnector", "connectorLabel": format!("bench-{}", key - VENDED.len())})
        }
    }
}

/// The API of ConnectorInfo number `i` (its namespace is `bench-{i % 20}`).
fn object_api(client: &kube::Client, resource: &ApiResource, i: usize) -> Api<DynamicObject> {
    Api::namespaced_with(
        client.clone(),
        &format!("bench-{}", i % NAMESPACES),
        resource,
    )
}

async fn create_objects(client: &kube::Client, n: usize) -> Result<(), Error> {
    let namespaces: Api<Namespace> = Api::all(client.clone());
    for ns in 0..NAMESPACES {
        let namespace: Namespace =
            serde_json::from_value(json!({"metadata": {"name": format!("bench-{ns}")}}))?;
        namespaces
            .create(&PostParams::default(), &namespace)
            .await?;
    }
    let resource = conninfo_resource();
    futures::stream::iter(0..n)
        .map(|i| {
            let api = object_api(client, &resource, i);
            async move {
                let object: DynamicObject = serde_json::from_value(json!({
                    "apiVersion": "appflow.connectorinfo.dev/v1alpha1",
                    "kind": "ConnectorInfo",
                    "metadata": {"name": format!("c-{i}")},
                    "spec": spec_for(i),
                }))?;
                api.create(&PostParams::default(), &object).await?;
                Ok::<_, Error>(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<()>()
        .await
}

/// The status the operator writes for each key, as its `describe` command prints it (from an
/// emulator without a quota, so the measured run's call and throttling counts stay its own).
fn statuses_by_key(emulator: &str) -> Result<Vec<serde_json::Value>, Error> {
    (0..KEYS)
        .map(|key| {
            let spec = spec_for(key);
            let mut describe = Command::new(release_bin("appflow-connector-operator"));
            describe.args(["describe", "-o", "json", "--region", "us-east-1"]);
            describe.args(["--endpoint-url", emulator]);
            describe.args([
                "--connector-type",
                spec["connectorType"].as_str().unwrap_or_default(),
            ]);
            if let Some(label) = spec["connectorLabel"].as_str() {
                describe.args(["--connector-label", label]);
            }
            let output = describe
                .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
                .env("AWS_SECRET_ACCESS_KEY", "bench")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .output()?;
            if !output.status.success() {
                return Err(format!("describe of key {key} failed: {output:?}").into());
            }
            Ok(serde_json::from_slice(&output.stdout)?)
        })
        .collect()
}

/// The API server's ceiling: N server-side applies of the status the operator writes, at the
/// operator's concurrency. The statuses are removed again afterwards (not timed), so the
/// operator starts from the same objects.
async fn apiserver_ceiling(
    client: &kube::Client,
    n: usize,
    statuses: &[serde_json::Value],
) -> Result<f64, Error> {
    let resource = conninfo_resource();
    let started = Instant::now();
    futures::stream::iter(0..n)
        .map(|i| {
            let api = object_api(client, &resource, i);
            let patch = json!({
                "apiVersion": "appflow.connectorinfo.dev/v1alpha1",
                "kind": "ConnectorInfo",
                "status": statuses[i % KEYS],
            });
            async move {
                api.patch_status(
                    &format!("c-{i}"),
                    &PatchParams::apply("bench-ceiling").force(),
                    &Patch::Apply(&patch),
                )
                .await?;
                Ok::<_, Error>(())
            }
        })
        .buffer_unordered(concurrency())
        .try_collect::<()>()
        .await?;
    let ceiling = started.elapsed().as_secs_f64();
    futures::stream::iter(0..n)
        .map(|i| {
            let api = object_api(client, &resource, i);
            async move {
                api.patch_status(
                    &format!("c-{i}"),
                    &PatchParams::default(),
                    &Patch::Merge(json!({"status": null})),
                )
                .await?;
                Ok::<_, Error>(())
            }
        })
        .buffer_unordered(concurrency())
        .try_collect::<()>()
        .await?;
    Ok(ceiling)
}

/// Sets the refresh annotation on every object, as `kubectl annotate` would.
async fn force_refresh(client: &kube::Client, n: usize) -> Result<(), Error> {
    let resource = conninfo_resource();
    futures::stream::iter(0..n)
        .map(|i| {
            let api = object_api(client, &resource, i);
            async move {
                let patch = json!({"metadata": {"annotations": {"appflow.connectorinfo.dev/refresh": "bench-forced"}}});
                api.patch(&format!("c-{i}"), &PatchParams::default(), &Patch::Merge(&patch))
                    .await?;
                Ok::<_, Error>(())
            }
        })
        .buffer_unordered(16)
        .try_collect::<()>()
        .await
}

fn http_get(url: &str) -> Result<String, Error> {
    Ok(ureq::get(url).call()?.body_mut().read_to_string()?)
}

fn metric(metrics: &str, series: &str) -> f64 {
    metrics
        .lines()
        .find_map(|line| line.strip_prefix(series)?.trim().parse::<f64>().ok())
        .unwrap_or(0.0)
}

fn emulator_stats(url: &str) -> Result<serde_json::Value, Error> {
    Ok(serde_json::from_str(&http_get(&format!(
        "{url}/_emulator/stats"
    ))?)?)
}

/// (VmHWM, VmRSS) in MiB and CPU seconds of a process, from /proc.
fn process_usage(pid: u32) -> Result<(f64, f64, f64), Error> {
    let (peak, rss) = process::memory_mib(pid);
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    // Fields after the command name (which may hold spaces): utime is the 14th, stime the 15th.
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|v| v.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let cpu = (ticks(11) + ticks(12)) / 100.0; // USER_HZ
    Ok((peak, rss, cpu))
}

struct Operator {
    proc: Proc,
    metrics_url: String,
}

fn start_operator(kubeconfig: &Path, emulator: &str) -> Result<Operator, Error> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let child = Command::new(release_bin("appflow-connector-operator"))
        .args([
            "run",
            "--endpoint-url",
            emulator,
            "--region",
            "us-east-1",
            "--log-level",
            "warn",
        ])
        .args(["--concurrency", &concurrency().to_string()])
        .args(["--health-addr", &format!("127.0.0.1:{port}")])
        .arg("--metrics-secure=false")
        .args(extra_operator_args())
        .env("KUBECONFIG", kubeconfig)
        .env("AWS_ACCESS_KEY_ID", "AKIDBENCH")
        .env("AWS_SECRET_ACCESS_KEY", "bench")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let operator = Operator {
        proc: Proc(child),
        metrics_url: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    while http_get(&format!("{}/readyz", operator.metrics_url)).is_err() {
        if Instant::now() > deadline {
            return Err("operator not ready within 120 s".into());
        }
        std::thread::sleep(Duration::from_millis(50)); // poll interval of a readiness check
    }
    Ok(operator)
}

async fn run_size(n: usize, steady: Duration, idle: &mut Option<f64>) -> Result<Run, Error> {
    let cluster = ControlPlane::start()?;
    let kubeconfig = cluster.kubeconfig().to_path_buf();
    let client = client(&kubeconfig).await?;
    install_crd(&client).await?;
    let (_emulator, emulator_url) = start_emulator(cluster.work_dir(), true)?;

    if idle.is_none() {
        let operator = start_operator(&kubeconfig, &emulator_url)?;
        let (_, rss, _) = process_usage(operator.proc.0.id())?;
        *idle = Some(rss);
    }

    eprintln!("bench: creating {n} ConnectorInfos");
    create_objects(&client, n).await?;
    eprintln!(
        "bench: API server ceiling: {n} status applies at concurrency {}",
        concurrency()
    );
    let statuses = {
        let (_unlimited, url) = start_emulator(cluster.work_dir(), false)?;
        statuses_by_key(&url)?
    };
    let ceiling = apiserver_ceiling(&client, n, &statuses).await?;

    eprintln!("bench: operator first sync");
    let started = Instant::now();
    let operator = start_operator(&kubeconfig, &emulator_url)?;
    let ready_series =
        "appflow_connector_operator_connectorinfos{condition=\"Ready\",status=\"True\"}";
    loop {
        let metrics = http_get(&format!("{}/metrics", operator.metrics_url))?;
        if metric(&metrics, ready_series) as usize >= n {
            break;
        }
        if started.elapsed() > Duration::from_secs(1800) {
            return Err(format!(
                "not all Ready after 30 min: {}",
                metric(&metrics, ready_series)
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await; // poll interval of a readiness check
    }
    let to_ready = started.elapsed().as_secs_f64();
    let written = "appflow_connector_operator_status_writes_total{result=\"written\"}";
    let metrics = http_get(&format!("{}/metrics", operator.metrics_url))?;
    let writes_to_ready = metric(&metrics, written);
    let stats = emulator_stats(&emulator_url)?;
    let calls_first = stats["total"].as_u64().unwrap_or(0);

    eprintln!("bench: steady window of {} s", steady.as_secs());
    tokio::time::sleep(steady).await; // the observation window itself, not a readiness wait
    let metrics = http_get(&format!("{}/metrics", operator.metrics_url))?;
    let stats_after = emulator_stats(&emulator_url)?;
    let steady_writes = metric(&metrics, written) - writes_to_ready;

    eprintln!("bench: forced refresh of all {n} objects");
    let forced_started = Instant::now();
    force_refresh(&client, n).await?;
    // Every object handles its refresh with one status write (lastHandledRefresh moves).
    let target = metric(&metrics, written) + n as f64;
    loop {
        let now = http_get(&format!("{}/metrics", operator.metrics_url))?;
        if metric(&now, written) >= target {
            break;
        }
        if forced_started.elapsed() > Duration::from_secs(1800) {
            return Err("the forced refresh did not finish within 30 min".into());
        }
        tokio::time::sleep(Duration::from_millis(250)).await; // poll interval of a readiness check
    }
    let forced_seconds = forced_started.elapsed().as_secs_f64();
    let stats_forced = emulator_stats(&emulator_url)?;
    let calls_forced =
        stats_forced["total"].as_u64().unwrap_or(0) - stats_after["total"].as_u64().unwrap_or(0);
    let (peak, _, cpu) = process_usage(operator.proc.0.id())?;
    Ok(Run {
        objects: n,
        keys: KEYS,
        seconds_to_all_ready: to_ready,
        apiserver_ceiling_seconds: ceiling,
        ratio_to_ceiling: to_ready / ceiling,
        describe_calls_first_sync: calls_first,
        calls_per_key_first_sync: calls_first as f64 / KEYS as f64,
        status_writes_per_object_to_ready: writes_to_ready / n as f64,
        steady_window_seconds: steady.as_secs(),
        steady_status_writes: steady_writes as u64,
        steady_describe_calls: stats_after["total"].as_u64().unwrap_or(0) - calls_first,
        throttled_answers: stats_forced["throttled"].as_u64().unwrap_or(0),
        forced_refresh_seconds: forced_seconds,
        describe_calls_forced_refresh: calls_forced,
        calls_per_key_forced_refresh: calls_forced as f64 / KEYS as f64,
        peak_rss_mib: peak,
        cpu_seconds: cpu,
    })
}

fn markdown(results: &Results) -> String {
    let mut out = format!(
        "Machine: {}. Operator `--concurrency {}{}`. Idle RSS with 0 objects: {:.1} MiB.\n\n| objects / keys | s to all Ready | API-server ceiling s | ratio | calls ÷ keys (first sync) | status writes / object to Ready | steady window: writes, calls | forced refresh: s, calls ÷ keys | throttled | peak RSS MiB | CPU s |\n|---|---|---|---|---|---|---|---|---|---|---|\n",
        results.machine,
        results.concurrency,
        extra_operator_args()
            .iter()
            .map(|a| format!(" {a}"))
            .collect::<String>(),
        results.idle_rss_mib
    );
    for r in &results.runs {
        out.push_str(&format!(
            "| {} / {} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {}, {} ({} s) | {:.1}, {:.2} | {} | {:.1} | {:.1} |\n",
            r.objects, r.keys, r.seconds_to_all_ready, r.apiserver_ceiling_seconds, r.ratio_to_ceiling,
            r.calls_per_key_first_sync, r.status_writes_per_object_to_ready, r.steady_status_writes,
            r.steady_describe_calls, r.steady_window_seconds, r.forced_refresh_seconds,
            r.calls_per_key_forced_refresh, r.throttled_answers, r.peak_rss_mib, r.cpu_seconds
        ));
    }
    out
}

fn chart(results: &Results, path: &Path) -> Result<(), Error> {
    use plotters::prelude::*;
    let root = SVGBackend::new(path, (960, 400)).into_drawing_area();
    root.fill(&WHITE)?;
    let (left, right) = root.split_horizontally(480);
    let max_n = results.runs.iter().map(|r| r.objects).max().unwrap_or(1) as f64 * 1.1;
    let max_s = results
        .runs
        .iter()
        .map(|r| r.seconds_to_all_ready.max(r.apiserver_ceiling_seconds))
        .fold(1.0, f64::max)
        * 1.2;
    let mut time = ChartBuilder::on(&left)
        .caption("time to all Ready", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(0.0..max_n, 0.0..max_s)?;
    time.configure_mesh()
        .x_desc("ConnectorInfos")
        .y_desc("seconds")
        .draw()?;
    let operator: Vec<(f64, f64)> = results
        .runs
        .iter()
        .map(|r| (r.objects as f64, r.seconds_to_all_ready))
        .collect();
    let ceiling: Vec<(f64, f64)> = results
        .runs
        .iter()
        .map(|r| (r.objects as f64, r.apiserver_ceiling_seconds))
        .collect();
    time.draw_series(LineSeries::new(operator.clone(), &BLUE))?
        .label("operator")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], BLUE));
    time.draw_series(operator.iter().map(|p| Circle::new(*p, 3, BLUE.filled())))?;
    time.draw_series(LineSeries::new(ceiling.clone(), &RED))?
        .label("API server ceiling")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], RED));
    time.draw_series(ceiling.iter().map(|p| Circle::new(*p, 3, RED.filled())))?;
    time.configure_series_labels().border_style(BLACK).draw()?;

    let max_rss = results
        .runs
        .iter()
        .map(|r| r.peak_rss_mib)
        .fold(results.idle_rss_mib, f64::max)
        * 1.2;
    let mut memory = ChartBuilder::on(&right)
        .caption("operator peak RSS", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(0.0..max_n, 0.0..max_rss)?;
    memory
        .configure_mesh()
        .x_desc("ConnectorInfos")
        .y_desc("MiB")
        .draw()?;
    let mut rss = vec![(0.0, results.idle_rss_mib)];
    rss.extend(
        results
            .runs
            .iter()
            .map(|r| (r.objects as f64, r.peak_rss_mib)),
    );
    memory.draw_series(LineSeries::new(rss.clone(), &BLUE))?;
    memory.draw_series(rss.iter().map(|p| Circle::new(*p, 3, BLUE.filled())))?;
    root.present()?;
    Ok(())
}

fn machine() -> String {
    let cpus = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0);
    let memory = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|m| {
            m.lines()
                .next()?
                .split_whitespace()
                .nth(1)?
                .parse::<f64>()
                .ok()
        })
        .map_or(0.0, |kib| kib / 1024.0 / 1024.0);
    format!("{cpus} CPUs, {memory:.0} GiB")
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let sizes: Vec<usize> = std::env::var("BENCH_SIZES")
        .unwrap_or_else(|_| "1000,10000".into())
        .split(',')
        .map(|s| s.trim().parse())
        .collect::<Result<_, _>>()?;
    let steady = Duration::from_secs(
        std::env::var("BENCH_STEADY_SECS")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or(60),
    );
    let mut idle = None;
    let mut runs = Vec::new();
    for n in sizes {
        let run = run_size(n, steady, &mut idle).await?;
        eprintln!("bench: {}", serde_json::to_string(&run)?);
        runs.push(run);
    }
    let results = Results {
        machine: machine(),
        concurrency: concurrency(),
        idle_rss_mib: idle.unwrap_or(0.0),
        runs,
    };
    let out = repo().join("target/bench");
    std::fs::create_dir_all(&out)?;
    std::fs::write(
        out.join("results.json"),
        serde_json::to_string_pretty(&results)?,
    )?;
    let table = markdown(&results);
    std::fs::write(out.join("results.md"), &table)?;
    chart(&results, &out.join("chart.svg"))?;
    println!("{table}");
    println!("written: target/bench/results.json, results.md, chart.svg");
    Ok(())
}
