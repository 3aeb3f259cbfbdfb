#!/usr/bin/env bash
# Runs the cargo-fuzz targets in fuzz/ and prints one line per target: executions per second,
# executions, coverage (libFuzzer's cov and ft), corpus size, seconds, and what it found.
#
#   hack/fuzz/run.sh [--smoke] [TARGET...]
#
# FUZZ_SECONDS (default 300) bounds each target. The corpus a run grows is kept in
# fuzz/target/corpus/TARGET and used again next time, beside the committed seeds in
# fuzz/corpus/TARGET (never written to). --smoke: FUZZ_SMOKE_SECONDS (default 20) a target
# from the seeds alone, for `make test`. A crash, timeout (10 s), out-of-memory (1 GiB) or failed assertion stops that
# target's run, leaves the input in fuzz/artifacts/TARGET/ and makes the script exit 1.
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$root"

smoke=false
if [[ "${1:-}" == "--smoke" ]]; then
	smoke=true
	shift
fi
seconds="${FUZZ_SECONDS:-300}"
if $smoke; then
	seconds="${FUZZ_SMOKE_SECONDS:-20}"
fi
targets=("$@")
if [[ ${#targets[@]} -eq 0 ]]; then
	targets=(check_input admission interval describe_answer)
fi

# Pure safe Rust: no sanitizer (docs/testing.md, "Fuzzing", says why); debug assertions and
# overflow checks on. Nightly and these flags differ from the workspace's builds, so the
# fuzz crate has its own target directory.
build_flags=(--sanitizer none --debug-assertions)
export CARGO_TARGET_DIR="$root/fuzz/target"
unset CARGO_BUILD_BUILD_DIR
export PATH="$root/.cache/cargo-fuzz/bin:$PATH"
hack/fuzz/install.sh

mkdir -p fuzz/target/logs
started=$(date +%s)
if ! cargo +nightly fuzz build "${build_flags[@]}" >fuzz/target/logs/build.log 2>&1; then
	tail -n 40 fuzz/target/logs/build.log >&2
	echo "fuzz: the build failed (fuzz/target/logs/build.log)" >&2
	exit 2
fi
echo "fuzz: built in $(($(date +%s) - started)) s" >&2

dictionary() {
	case "$1" in
	check_input | admission) echo fuzz/dicts/manifest.dict ;;
	*) echo "fuzz/dicts/$1.dict" ;;
	esac
}

# The value after `name: ` in libFuzzer's last status line (`#N DONE cov: 1 ft: 2 corp: 3/4b`).
status_field() {
	grep -E '^#[0-9]+.*cov: ' "$2" | tail -n 1 | sed -nE "s/.* $1: ([^ ]+).*/\1/p"
}

final_stat() {
	sed -nE "s/^stat::$1: *([0-9]+).*/\1/p" "$2" | tail -n 1
}

failed=0
rows=()
for target in "${targets[@]}"; do
	work="fuzz/target/corpus/$target"
	if $smoke; then
		work="fuzz/target/smoke-corpus/$target"
		rm -rf "$work"
	fi
	artifacts="fuzz/artifacts/$target"
	log="fuzz/target/logs/$target.log"
	mkdir -p "$work" "$artifacts" "$(dirname "$log")"
	binary="fuzz/target/x86_64-unknown-linux-gnu/release/$target"
	begin=$(date +%s)
	status=0
	"$binary" "$work" "fuzz/corpus/$target" \
		-max_total_time="$seconds" -timeout=10 -rss_limit_mb=1024 \
		-dict="$(dictionary "$target")" -artifact_prefix="$artifacts/" \
		-print_final_stats=1 >"$log" 2>&1 || status=$?
	elapsed=$(($(date +%s) - begin))
	found="none"
	if [[ $status -ne 0 ]]; then
		failed=1
		found="$(grep -oE 'Test unit written to [^ ]+' "$log" | tail -n 1 | sed 's/Test unit written to //')"
		found="exit $status ${found:-(see $log)}"
		grep -E 'panicked at|^(thread|assertion)|ERROR: libFuzzer' "$log" | head -n 4 >&2 || true
	fi
	rows+=("$(printf '%-16s %9s %12s %7s %7s %10s %5s  %s' "$target" \
		"$(final_stat average_exec_per_sec "$log")" "$(final_stat number_of_executed_units "$log")" \
		"$(status_field cov "$log")" "$(status_field ft "$log")" "$(status_field corp "$log")" \
		"$elapsed" "$found")")
done

printf '%-16s %9s %12s %7s %7s %10s %5s  %s\n' target execs/s execs cov ft corpus secs found
printf '%s\n' "${rows[@]}"
exit "$failed"
