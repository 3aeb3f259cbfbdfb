"""The AppFlow emulator seen through botocore/boto3.

botocore ships AppFlow's service model; these tests check that the emulator's
answers parse the way AWS's do (shapes, timestamps, modelled exceptions) and
that its auth, validation, faults and control endpoints behave as documented.

The emulator runs as its own binary, `appflow-emulator`, taken from $APPFLOW_EMULATOR_BIN, else
target/debug/appflow-emulator (`cargo build -p appflow-emulator`).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
import re
import subprocess
import time
import urllib.error
import urllib.request
import uuid
from pathlib import Path

import boto3
import botocore.config
import pytest

REPO = Path(__file__).resolve().parents[2]

VENDED_TYPES = [
    "Salesforce", "Singular", "Slack", "Redshift", "S3", "Marketo", "Googleanalytics",
    "Zendesk", "Servicenow", "Datadog", "Trendmicro", "Snowflake", "Dynatrace",
    "Infornexus", "Amplitude", "Veeva", "EventBridge", "LookoutMetrics", "Upsolver",
    "Honeycode", "CustomerProfiles", "SAPOData", "Pardot",
]

DATA_YAML = """
customConnectors:
  - label: acme-crm
    description: Acme CRM accounts and contacts
    registeredAt: 1704067200
    connectorVersion: "2.3.1"
    authenticationConfig:
      isOAuth2Supported: true
      isCustomAuthSupported: true
      oAuth2Defaults:
        oauthScopes: [crm.read]
        tokenUrls: [https://auth.acme.example/oauth2/token]
        authCodeUrls: [https://auth.acme.example/oauth2/authorize]
        oauth2GrantTypesSupported: [AUTHORIZATION_CODE, CLIENT_CREDENTIALS]
      customAuthConfigs:
        - customAuthenticationType: HMAC
          authParameters:
            - {key: apiKeyId, isRequired: true, label: API key ID, isSensitiveField: false}
            - {key: apiSecret, isRequired: true, label: API secret, isSensitiveField: true}
  - label: minimal
  - label: slowpoke
  - label: locked
faults:
  "CustomConnector/slowpoke": {latencyMs: 400}
  "CustomConnector/locked": {errorCode: ConnectorAuthenticationException, message: Token expired}
"""

FAKE_AUTH = (
    "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/{service}/aws4_request, "
    "SignedHeaders=content-type;host;x-amz-date, Signature=" + "0" * 64
)


def built_binary(variable: str, name: str, build: str) -> Path:
    """$variable if set, else target/debug/<name>; fails the test with how to build it."""
    env = os.environ.get(variable)
    path = Path(env) if env else REPO / "target" / "debug" / name
    if not path.is_file():
        pytest.fail(f"{name} not found at {path}; run `{build}` or set {variable}")
    return path


def emulator_binary() -> Path:
    return built_binary("APPFLOW_EMULATOR_BIN", "appflow-emulator", "cargo build -p appflow-emulator")


def start_emulator(data: Path, log: Path, timeout: float = 30.0) -> tuple[subprocess.Popen, str]:
    """The emulator on a loopback port the kernel picks (a port chosen here and released could be
    taken before the emulator binds it), and its URL, read from the line it prints once bound."""
    with open(log, "wb") as out:
        proc = subprocess.Popen(
            [str(emulator_binary()), "--listen", "127.0.0.1:0", "--data", str(data)],
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
        )
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        match = re.search(r"listening on (http://127\.0\.0\.1:\d+)", log.read_text(errors="replace"))
        if match:
            return proc, match.group(1)
        if proc.poll() is not None:
            raise RuntimeError(f"emulator exited early with code {proc.returncode}: {log.read_text()}")
        time.sleep(0.05)  # poll interval of a log line, not a readiness guess
    proc.kill()
    raise RuntimeError(f"emulator did not report its address within {timeout}s")


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


class Emulator:
    def __init__(self, url: str):
        self.url = url

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        """Plain HTTP; returns (status, headers, body bytes) for any status."""
        req = urllib.request.Request(self.url + path, data=body, method=method, headers=headers or {})
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.headers, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.headers, err.read()

    def control(self, method: str, path: str, payload=None) -> dict:
        body = None if payload is None else json.dumps(payload).encode()
        status, _, data = self.request(method, path, body, {"Content-Type": "application/json"})
        assert status == 200, (status, data)
        return json.loads(data)

    def set_fault(self, key: str, fault: dict | None) -> dict:
        return self.control("POST", "/_emulator/faults", {"key": key, "fault": fault})

    def stats(self) -> dict:
        return self.control("GET", "/_emulator/stats")


@contextlib.contextmanager
def running_emulator(workdir: Path, data_yaml: str):
    """The emulator binary serving `data_yaml` on a port the kernel picks, stopped on exit."""
    data = workdir / "data.yaml"
    data.write_text(data_yaml)
    proc, url = start_emulator(data, workdir / "emulator.log")
    try:
        yield Emulator(url)
    finally:
        stop(proc)


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with running_emulator(tmp_path_factory.mktemp("appflow-emulator"), DATA_YAML) as emu:
        yield emu


def make_client(emulator: Emulator, **config):
    config.setdefault("retries", {"mode": "standard", "total_max_attempts": 1})
    return boto3.client(
        "appflow",
        endpoint_url=emulator.url,
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="x",
        config=botocore.config.Config(**config),
    )


@pytest.fixture(scope="module")
def client(emulator):
    return make_client(emulator)


@pytest.fixture(scope="module")
def lax_client(emulator):
    """A client that sends what it is given, so the server does the validating."""
    return make_client(emulator, parameter_validation=False)


# --- DescribeConnector for the vended catalog --------------------------------


@pytest.mark.parametrize("connector_type", VENDED_TYPES)
def test_describe_every_vended_connector(client, connector_type):
    resp = client.describe_connector(connectorType=connector_type)
    meta = resp["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 200
    uuid.UUID(meta["RequestId"])
    assert meta["HTTPHeaders"]["content-type"] == "application/json"
    cfg = resp["connectorConfiguration"]
    assert cfg["connectorType"] == connector_type
    assert isinstance(cfg["canUseAsSource"], bool)
    assert isinstance(cfg["canUseAsDestination"], bool)
    assert cfg["canUseAsSource"] or cfg["canUseAsDestination"]
    assert cfg["connectorVersion"]
    auth = cfg["authenticationConfig"]
    for flag in ("isBasicAuthSupported", "isApiKeyAuthSupported", "isOAuth2Supported", "isCustomAuthSupported"):
        assert isinstance(auth[flag], bool)
    assert auth["isOAuth2Supported"] == ("oAuth2Defaults" in auth)
    if cfg["canUseAsSource"]:
        assert cfg["supportedDestinationConnectors"]
        assert set(cfg["supportedTriggerTypes"]) <= {"Scheduled", "Event", "OnDemand"}


def test_salesforce_oauth2_and_transfer_apis(client):
    cfg = client.describe_connector(connectorType="Salesforce")["connectorConfiguration"]
    grants = ["AUTHORIZATION_CODE", "CLIENT_CREDENTIALS", "JWT_BEARER"]
    assert cfg["connectorMetadata"]["Salesforce"]["oauth2GrantTypesSupported"] == grants
    defaults = cfg["authenticationConfig"]["oAuth2Defaults"]
    assert defaults["oauth2GrantTypesSupported"] == grants
    assert all(u.startswith("https://") for u in defaults["tokenUrls"] + defaults["authCodeUrls"])
    assert {"Name": "BULKV2", "Type": "ASYNC"} in cfg["supportedDataTransferApis"]
    assert "DELETE" in cfg["supportedWriteOperations"]


def test_auth_kinds(client):
    def auth(t):
        return client.describe_connector(connectorType=t)["connectorConfiguration"]["authenticationConfig"]

    assert auth("Slack")["isOAuth2Supported"] is True
    assert auth("Datadog")["isApiKeyAuthSupported"] is True
    assert auth("Servicenow")["isBasicAuthSupported"] is True
    assert auth("Redshift")["isBasicAuthSupported"] is True
    for t in ("S3", "EventBridge", "LookoutMetrics", "Upsolver", "CustomerProfiles"):
        a = auth(t)
        assert not any(a[f] for f in ("isBasicAuthSupported", "isApiKeyAuthSupported", "isOAuth2Supported", "isCustomAuthSupported")), t


def test_snowflake_regions(client):
    cfg = client.describe_connector(connectorType="Snowflake")["connectorConfiguration"]
    assert cfg["authenticationConfig"]["isBasicAuthSupported"] is True
    assert "us-east-1" in cfg["connectorMetadata"]["Snowflake"]["supportedRegions"]


def test_label_is_ignored_for_vended_types(client):
    cfg = client.describe_connector(connectorType="Slack", connectorLabel="whatever")["connectorConfiguration"]
    assert cfg["connectorType"] == "Slack"
    assert "connectorLabel" not in cfg


# --- custom connectors ----------------------------------------------------------


def test_custom_connector_from_data_file(client):
    cfg = client.describe_connector(connectorType="CustomConnector", connectorLabel="acme-crm")[
        "connectorConfiguration"
    ]
    assert cfg["connectorType"] == "CustomConnector"
    assert cfg["connectorLabel"] == "acme-crm"
    assert cfg["connectorDescription"] == "Acme CRM accounts and contacts"
    assert cfg["connectorVersion"] == "2.3.1"
    assert isinstance(cfg["registeredAt"], dt.datetime)
    assert cfg["registeredAt"] == dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)
    assert cfg["connectorArn"] == "arn:aws:appflow:us-east-1:123456789012:connector/acme-crm"
    assert cfg["connectorProvisioningType"] == "LAMBDA"
    assert cfg["connectorProvisioningConfig"]["lambda"]["lambdaArn"].startswith("arn:aws:lambda:us-east-1:")
    auth = cfg["authenticationConfig"]
    assert auth["isOAuth2Supported"] is True
    assert auth["isCustomAuthSupported"] is True
    assert auth["oAuth2Defaults"]["oauth2GrantTypesSupported"] == ["AUTHORIZATION_CODE", "CLIENT_CREDENTIALS"]
    (custom,) = auth["customAuthConfigs"]
    assert custom["customAuthenticationType"] == "HMAC"
    assert [p["key"] for p in custom["authParameters"]] == ["apiKeyId", "apiSecret"]
    assert custom["authParameters"][1]["isSensitiveField"] is True


def test_custom_connector_defaults(client):
    before = dt.datetime.now(dt.timezone.utc)
    cfg = client.describe_connector(connectorType="CustomConnector", connectorLabel="minimal")[
        "connectorConfiguration"
    ]
    # Registered when the emulator started, sent as fractional epoch seconds.
    assert isinstance(cfg["registeredAt"], dt.datetime)
    assert before - dt.timedelta(minutes=10) < cfg["registeredAt"] <= before
    assert cfg["registeredBy"]
    assert cfg["connectorModes"] == ["SOURCE", "DESTINATION"]
    assert cfg["authenticationConfig"]["customAuthConfigs"]
    assert cfg["connectorRuntimeSettings"][0]["scope"] == "CONNECTOR_PROFILE"


def test_unregistered_label_is_resource_not_found(client):
    with pytest.raises(client.exceptions.ResourceNotFoundException) as info:
        client.describe_connector(connectorType="CustomConnector", connectorLabel="no-such-connector")
    err = info.value.response
    assert err["Error"]["Code"] == "ResourceNotFoundException"
    assert "no-such-connector" in err["Error"]["Message"]
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 404
    uuid.UUID(err["ResponseMetadata"]["RequestId"])


def test_connector_registered_at_runtime(emulator, client):
    label = "late-arrival"
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_connector(connectorType="CustomConnector", connectorLabel=label)
    reply = emulator.control(
        "POST",
        "/_emulator/connectors",
        {"label": label, "authenticationConfig": {"isBasicAuthSupported": True}},
    )
    assert reply["registered"] == label
    try:
        cfg = client.describe_connector(connectorType="CustomConnector", connectorLabel=label)[
            "connectorConfiguration"
        ]
        assert cfg["connectorLabel"] == label
        assert cfg["authenticationConfig"]["isBasicAuthSupported"] is True
        assert isinstance(cfg["registeredAt"], dt.datetime)
    finally:
        emulator.control("DELETE", f"/_emulator/connectors/{label}")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_connector(connectorType="CustomConnector", connectorLabel=label)


# --- validation -------------------------------------------------------------------


@pytest.mark.parametrize("label", ["bad label", "-leading-dash", "x", "y" * 257])
def test_bad_label_is_validation_exception(lax_client, label):
    with pytest.raises(lax_client.exceptions.ValidationException) as info:
        lax_client.describe_connector(connectorType="CustomConnector", connectorLabel=label)
    message = info.value.response["Error"]["Message"]
    assert message.startswith("1 validation error detected: Value '")
    assert "at 'connectorLabel' failed to satisfy constraint" in message
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_unknown_type_is_validation_exception(client):
    # botocore does not check enum values client-side.
    with pytest.raises(client.exceptions.ValidationException) as info:
        client.describe_connector(connectorType="Hubspot")
    message = info.value.response["Error"]["Message"]
    assert message.startswith(
        "1 validation error detected: Value 'Hubspot' at 'connectorType' failed to satisfy constraint: "
        "Member must satisfy enum value set: [Salesforce, Singular, Slack,"
    )


def test_missing_type_is_validation_exception(lax_client):
    with pytest.raises(lax_client.exceptions.ValidationException) as info:
        lax_client.describe_connector()
    assert "Value null at 'connectorType'" in info.value.response["Error"]["Message"]


def test_custom_connector_without_label_is_validation_exception(client):
    with pytest.raises(client.exceptions.ValidationException) as info:
        client.describe_connector(connectorType="CustomConnector")
    assert "connectorLabel is required" in info.value.response["Error"]["Message"]


# --- faults and stats -------------------------------------------------------------


def test_throttling_fault_with_count_recovers(emulator, client):
    assert client.describe_connector(connectorType="Marketo")["connectorConfiguration"]
    emulator.set_fault("Marketo", {"errorCode": "ThrottlingException", "count": 2})
    try:
        for _ in range(2):
            with pytest.raises(client.exceptions.ThrottlingException) as info:
                client.describe_connector(connectorType="Marketo")
            assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 429
            assert info.value.response["Error"]["Message"] == "Rate exceeded"
        cfg = client.describe_connector(connectorType="Marketo")["connectorConfiguration"]
        assert cfg["connectorType"] == "Marketo"
        fault = emulator.stats()["faults"]["Marketo"]
        assert (fault["fired"], fault["remaining"]) == (2, 0)
    finally:
        emulator.set_fault("Marketo", None)


def test_botocore_retries_a_transient_throttle(emulator):
    retrying = make_client(emulator, retries={"mode": "standard", "total_max_attempts": 3})
    emulator.set_fault("Veeva", {"errorCode": "ThrottlingException", "count": 1})
    try:
        resp = retrying.describe_connector(connectorType="Veeva")
        assert resp["ResponseMetadata"]["RetryAttempts"] == 1
        assert resp["connectorConfiguration"]["connectorType"] == "Veeva"
    finally:
        emulator.set_fault("Veeva", None)


def test_other_modelled_fault_codes(emulator, client):
    cases = [
        ("InternalServerException", 500),
        ("AccessDeniedException", 403),
        ("ServiceQuotaExceededException", 402),
        ("ConflictException", 409),
    ]
    try:
        for code, status in cases:
            emulator.set_fault("Amplitude", {"errorCode": code, "count": 1, "message": f"injected {code}"})
            with pytest.raises(getattr(client.exceptions, code)) as info:
                client.describe_connector(connectorType="Amplitude")
            assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == status
            assert info.value.response["Error"]["Message"] == f"injected {code}"
        emulator.set_fault("Amplitude", {"errorCode": "SomethingOdd", "count": 1})
        with pytest.raises(client.exceptions.ClientError) as info:
            client.describe_connector(connectorType="Amplitude")
        assert info.value.response["Error"]["Code"] == "SomethingOdd"
        assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    finally:
        emulator.set_fault("Amplitude", None)


def test_data_file_fault_with_message(client):
    with pytest.raises(client.exceptions.ConnectorAuthenticationException) as info:
        client.describe_connector(connectorType="CustomConnector", connectorLabel="locked")
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 401
    assert info.value.response["Error"]["Message"] == "Token expired"


def test_latency_fault(client):
    start = time.monotonic()
    cfg = client.describe_connector(connectorType="CustomConnector", connectorLabel="slowpoke")[
        "connectorConfiguration"
    ]
    assert time.monotonic() - start >= 0.4
    assert cfg["connectorLabel"] == "slowpoke"


def test_garbage_body_fault(emulator):
    emulator.set_fault("Upsolver", {"garbageBody": True, "count": 1})
    try:
        status, headers, body = emulator.request(
            "POST",
            "/describe-connector",
            json.dumps({"connectorType": "Upsolver"}).encode(),
            {"Authorization": FAKE_AUTH.format(service="appflow"), "X-Amz-Date": "20240101T000000Z"},
        )
        assert status == 200
        with pytest.raises(ValueError):
            json.loads(body)
    finally:
        emulator.set_fault("Upsolver", None)


def test_stats_count_calls_per_key(emulator, client, lax_client):
    emulator.control("POST", "/_emulator/reset")
    assert emulator.stats()["total"] == 0
    for _ in range(3):
        client.describe_connector(connectorType="Dynatrace")
    client.describe_connector(connectorType="CustomConnector", connectorLabel="acme-crm")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_connector(connectorType="CustomConnector", connectorLabel="ghost")
    with pytest.raises(lax_client.exceptions.ValidationException):
        lax_client.describe_connector(connectorType="CustomConnector", connectorLabel="bad label")
    stats = emulator.stats()
    assert stats["calls"] == {
        "Dynatrace": 3,
        "CustomConnector/acme-crm": 1,
        "CustomConnector/ghost": 1,
        "CustomConnector/bad label": 1,
    }
    assert stats["total"] == 6


# --- auth and raw protocol ----------------------------------------------------------


def test_unsigned_request_is_rejected(emulator):
    status, headers, body = emulator.request(
        "POST",
        "/describe-connector",
        json.dumps({"connectorType": "Salesforce"}).encode(),
        {"Content-Type": "application/json"},
    )
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert headers["Content-Type"] == "application/json"
    uuid.UUID(headers["x-amzn-RequestId"])
    assert json.loads(body) == {"message": "Missing Authentication Token"}


def test_credential_scoped_to_another_service_is_rejected(emulator):
    status, headers, body = emulator.request(
        "POST",
        "/describe-connector",
        json.dumps({"connectorType": "Salesforce"}).encode(),
        {"Authorization": FAKE_AUTH.format(service="s3"), "X-Amz-Date": "20240101T000000Z"},
    )
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "InvalidSignatureException"
    assert json.loads(body) == {"message": "Credential should be scoped to correct service: 'appflow'."}


def test_malformed_json_is_serialization_exception(emulator):
    status, headers, body = emulator.request(
        "POST",
        "/describe-connector",
        b"{not json",
        {"Authorization": FAKE_AUTH.format(service="appflow"), "X-Amz-Date": "20240101T000000Z"},
    )
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "SerializationException"
    assert "message" in json.loads(body)


def test_unknown_operation(emulator):
    status, headers, _ = emulator.request("POST", "/list-connectors", b"{}")
    assert status == 404
    assert headers["x-amzn-ErrorType"] == "UnknownOperationException"
