"""`appflow-connector-operator check -o junit` read by a second, independent parser.

CI test reporters (GitLab, Jenkins, GitHub actions that publish JUnit) read the XML the way
Python's xml.etree does: this checks the JUnit structure they rely on, and that it says the
same as the JSON report of the same run, over the fixture repository in tests/fixtures/check.

The operator binary is taken from $APPFLOW_OPERATOR_BIN, else
target/debug/appflow-connector-operator (`cargo build --bins`).
"""

from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from test_emulator_botocore import built_binary, start_emulator, stop

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures" / "check"


def operator_binary() -> Path:
    return built_binary("APPFLOW_OPERATOR_BIN", "appflow-connector-operator", "cargo build --bins")


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("check-emulator")
    proc, url = start_emulator(REPO / "hack" / "demo" / "emulator-data.yaml", workdir / "emulator.log")
    try:
        yield url
    finally:
        stop(proc)


def check(endpoint: str, output: str) -> subprocess.CompletedProcess:
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(FIXTURES),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": "AKIDTEST",
        "AWS_SECRET_ACCESS_KEY": "test-secret",
    }
    return subprocess.run(
        [str(operator_binary()), "check", "repo", "-o", output, "--endpoint-url", endpoint,
         "--region", "us-east-1", "--aws-max-attempts", "1"],
        cwd=FIXTURES, env=env, capture_output=True, text=True, timeout=120, check=False,
    )


def test_junit_structure_matches_the_json_report(endpoint):
    junit = check(endpoint, "junit")
    report = json.loads(check(endpoint, "json").stdout)
    assert junit.returncode == 1, junit.stderr

    root = ET.fromstring(junit.stdout)
    assert root.tag == "testsuites"
    suites = root.findall("testsuite")
    assert len(suites) == 1
    suite = suites[0]
    cases = suite.findall("testcase")
    results = report["results"]

    # One testcase per ConnectorInfo, in the report's order; counts consistent everywhere.
    assert len(cases) == len(results) == report["summary"]["checked"]
    assert int(suite.get("tests")) == len(cases) == int(root.get("tests"))
    failures = [c for c in cases if c.find("failure") is not None]
    assert int(suite.get("failures")) == len(failures) == report["summary"]["failed"]
    assert int(suite.get("errors")) == 0

    for case, result in zip(cases, results):
        where = f"{result['file']}:{result['line']}"
        if "item" in result:
            where += f" (items[{result['item']}])"
        assert case.get("name") == f"{result['name']} ({where})"
        assert case.get("classname") == result["file"]
        failure = case.find("failure")
        if result["outcome"] in ("Ready", "Valid"):
            assert failure is None, case.get("name")
        else:
            assert failure is not None, case.get("name")
            assert failure.get("type") == result["outcome"]
            assert failure.get("message") == result["message"]
            details = result["errors"] or result["missing"] or [result["message"]]
            assert (failure.text or "").splitlines() == details


def test_invalid_manifests_fail_with_the_api_servers_words(endpoint):
    root = ET.fromstring(check(endpoint, "junit").stdout)
    by_name = {c.get("name").split(" ")[0]: c for c in root.iter("testcase")}
    failure = by_name["bad-enum"].find("failure")
    assert failure.get("type") == "Invalid"
    assert failure.text.startswith('spec.connectorType: Unsupported value: "Salesforse"')
    assert by_name["salesforce-jwt"].find("failure") is None
