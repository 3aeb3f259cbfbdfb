//! What a run reports: `target/bench/results.json`, `results.md` and `chart.svg`; the budget
//! run's table.

use std::path::Path;

use serde::Serialize;

use crate::Error;
use crate::phases::budget::KeyBudget;
use crate::probe::ProbeSummary;

#[derive(Serialize)]
pub struct Results {
    pub machine: String,
    pub concurrency: usize,
    pub operator_args: Vec<String>,
    pub idle_rss_mib: f64,
    pub runs: Vec<Run>,
}

#[derive(Serialize)]
pub struct Run {
    pub objects: usize,
    pub keys: usize,
    pub seconds_to_all_ready: f64,
    pub apiserver_ceiling_seconds: f64,
    pub ratio_to_ceiling: f64,
    pub describe_calls_first_sync: u64,
    pub calls_per_key_first_sync: f64,
    pub status_writes_per_object_to_ready: f64,
    pub steady_window_seconds: u64,
    pub steady_status_writes: u64,
    pub steady_describe_calls: u64,
    pub throttled_answers: u64,
    /// Every object annotated at once with one value: until every request was handled.
    pub refresh_at_once_seconds: f64,
    /// Calls to the fleet's 50 keys meanwhile.
    pub describe_calls_refresh_at_once: u64,
    pub calls_per_key_refresh_at_once: f64,
    /// The annotations are applied evenly over this long.
    pub forced_refresh_spread_seconds: f64,
    /// From the first annotation until every object handled its request.
    pub forced_refresh_seconds: f64,
    /// Calls to the fleet's 50 keys meanwhile (the probes' new keys not counted).
    pub describe_calls_forced_refresh: u64,
    pub calls_per_key_forced_refresh: f64,
    pub probes_new_key: ProbeSummary,
    pub probes_cached_key: ProbeSummary,
    pub forced_refresh_longest: crate::phases::forced::Longest,
    /// VmHWM from the start until the API-server restart.
    pub peak_rss_mib: f64,
    /// VmRSS just before the restart.
    pub steady_rss_mib: f64,
    /// Of the steady RSS: the operator's own memory, and its binary's file pages.
    pub steady_rss_anon_mib: f64,
    pub steady_rss_file_mib: f64,
    pub relist_peak_rss_mib: f64,
    pub relist_peak_ratio: f64,
    /// Whether the relist peak is VmHWM after a reset (else 100 ms RSS samples).
    pub relist_peak_from_hwm: bool,
    pub relist_list_requests: u64,
    pub relist_watch_events: u64,
    /// API-server restarts until the operator relisted (its watch may resume instead).
    pub relist_restarts: u32,
    pub cpu_seconds: f64,
}

pub fn markdown(results: &Results) -> String {
    let args: String = results
        .operator_args
        .iter()
        .map(|a| format!(" {a}"))
        .collect();
    let mut out = format!(
        "Machine: {}. Operator `--concurrency {}{args}`. Idle RSS with 0 objects: {:.1} MiB.\n\n",
        results.machine, results.concurrency, results.idle_rss_mib
    );
    out.push_str("| objects / keys | s to all Ready | API-server ceiling s | ratio | calls ÷ keys (first sync) | status writes / object to Ready | steady window: writes, calls | one value at once: s, calls ÷ keys | spread refresh: s, calls ÷ keys | throttled | peak RSS MiB | CPU s |\n|---|---|---|---|---|---|---|---|---|---|---|---|\n");
    for r in &results.runs {
        out.push_str(&format!(
            "| {} / {} | {:.1} | {:.1} | {:.2} | {:.2} | {:.2} | {}, {} ({} s) | {:.1}, {:.2} | {:.1}, {:.2} | {} | {:.1} | {:.1} |\n",
            r.objects, r.keys, r.seconds_to_all_ready, r.apiserver_ceiling_seconds, r.ratio_to_ceiling,
            r.calls_per_key_first_sync, r.status_writes_per_object_to_ready, r.steady_status_writes,
            r.steady_describe_calls, r.steady_window_seconds, r.refresh_at_once_seconds,
            r.calls_per_key_refresh_at_once, r.forced_refresh_seconds,
            r.calls_per_key_forced_refresh, r.throttled_answers, r.peak_rss_mib, r.cpu_seconds
        ));
    }
    out.push_str("\n| objects | refresh spread over s | new key to Ready p50 / p99 s (Ready of probes) | cached key to Ready p50 / p99 s (Ready of probes) | forced calls ÷ keys | steady RSS MiB | relist peak RSS MiB | relist ÷ steady | relist: LIST requests / watch events (API-server restarts) |\n|---|---|---|---|---|---|---|---|---|\n");
    for r in &results.runs {
        out.push_str(&format!(
            "| {} | {:.0} | {} | {} | {:.2} | {:.1} | {:.1}{} | {:.2} | {} / {} ({}) |\n",
            r.objects,
            r.forced_refresh_spread_seconds,
            probes_cell(&r.probes_new_key),
            probes_cell(&r.probes_cached_key),
            r.calls_per_key_forced_refresh,
            r.steady_rss_mib,
            r.relist_peak_rss_mib,
            if r.relist_peak_from_hwm {
                ""
            } else {
                " (sampled)"
            },
            r.relist_peak_ratio,
            r.relist_list_requests,
            r.relist_watch_events,
            r.relist_restarts,
        ));
    }
    out.push_str("\n| objects | during the forced refresh: longest wait at the reconcile queue, `changed` lane, s ≤ | longest reconciliation (describe and status write), s ≤ | steady RSS: anonymous / file pages MiB |\n|---|---|---|---|\n");
    for r in &results.runs {
        let bound = |b: Option<f64>| b.map_or("–".to_owned(), |b| format!("{b:.3}"));
        out.push_str(&format!(
            "| {} | {} | {} | {:.1} / {:.1} |\n",
            r.objects,
            bound(r.forced_refresh_longest.changed_lane_wait_seconds),
            bound(r.forced_refresh_longest.reconcile_seconds),
            r.steady_rss_anon_mib,
            r.steady_rss_file_mib,
        ));
    }
    out
}

fn probes_cell(p: &ProbeSummary) -> String {
    format!(
        "{:.2} / {:.2} ({} of {})",
        p.p50_seconds, p.p99_seconds, p.ready, p.probes
    )
}

pub fn budget_markdown(results: &[KeyBudget]) -> String {
    let mut out = String::from(
        "| key | objects | window min | calls | calls per hour over the window | schedule's most calls in the window | calls after the first hour (schedule's most) | schedule's calls per day after the first hour |\n|---|---|---|---|---|---|---|---|\n",
    );
    for r in results {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {:.1} | {} | {} | {} |\n",
            r.key,
            r.objects,
            r.window_minutes,
            r.calls,
            r.calls_per_hour,
            r.schedule_max_calls_in_window,
            match (
                r.calls_after_first_hour,
                r.schedule_max_calls_after_first_hour
            ) {
                (Some(calls), Some(most)) => format!("{calls} ({most})"),
                _ => "– (window ≤ 1 h)".to_owned(),
            },
            r.schedule_max_calls_per_day_after_first_hour
        ));
    }
    out.push_str("\nThe schedule's first hour has holds doubling from 5 s (10 calls), so calls per hour over a window that includes it overstate the rate after it, which the schedule caps at one call an hour; `BUDGET_MINUTES` over 60 also counts the calls after the first hour.\n");
    out
}

pub fn machine() -> String {
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

pub fn chart(results: &Results, path: &Path) -> Result<(), Error> {
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
    let series = |f: fn(&Run) -> f64| -> Vec<(f64, f64)> {
        results
            .runs
            .iter()
            .map(|r| (r.objects as f64, f(r)))
            .collect()
    };
    for (points, label, color) in [
        (series(|r| r.seconds_to_all_ready), "operator", BLUE),
        (
            series(|r| r.apiserver_ceiling_seconds),
            "API server ceiling",
            RED,
        ),
    ] {
        time.draw_series(LineSeries::new(points.clone(), &color))?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], color));
        time.draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))?;
    }
    time.configure_series_labels().border_style(BLACK).draw()?;
    memory_chart(results, &right, max_n)?;
    root.present()?;
    Ok(())
}

fn memory_chart<DB: plotters::prelude::DrawingBackend>(
    results: &Results,
    area: &plotters::prelude::DrawingArea<DB, plotters::coord::Shift>,
    max_n: f64,
) -> Result<(), Error>
where
    DB::ErrorType: 'static,
{
    use plotters::prelude::*;
    let max_rss = results
        .runs
        .iter()
        .map(|r| r.peak_rss_mib.max(r.relist_peak_rss_mib))
        .fold(results.idle_rss_mib, f64::max)
        * 1.2;
    let mut memory = ChartBuilder::on(area)
        .caption("operator RSS", ("sans-serif", 18))
        .margin(10)
        .x_label_area_size(35)
        .y_label_area_size(45)
        .build_cartesian_2d(0.0..max_n, 0.0..max_rss)
        .map_err(|e| e.to_string())?;
    memory
        .configure_mesh()
        .x_desc("ConnectorInfos")
        .y_desc("MiB")
        .draw()
        .map_err(|e| e.to_string())?;
    let idle = (0.0, results.idle_rss_mib);
    for (f, label, color) in [
        ((|r: &Run| r.peak_rss_mib) as fn(&Run) -> f64, "peak", BLUE),
        (|r: &Run| r.steady_rss_mib, "steady", GREEN),
        (|r: &Run| r.relist_peak_rss_mib, "relist peak", RED),
    ] {
        let mut points = vec![idle];
        points.extend(results.runs.iter().map(|r| (r.objects as f64, f(r))));
        memory
            .draw_series(LineSeries::new(points.clone(), &color))
            .map_err(|e| e.to_string())?
            .label(label)
            .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], color));
        memory
            .draw_series(points.iter().map(|p| Circle::new(*p, 3, color.filled())))
            .map_err(|e| e.to_string())?;
    }
    memory
        .configure_series_labels()
        .border_style(BLACK)
        .draw()
        .map_err(|e| e.to_string())?;
    Ok(())
}
