"""The emulator's STS and its accounts seen through botocore/boto3.

STS answers over awsQuery on the same listener as AppFlow; credentials it
issues make AppFlow's DescribeConnector act in the role's account. The binary
is found as in test_emulator_botocore.py ($APPFLOW_EMULATOR_BIN, else
target/debug/appflow-emulator).
"""

from __future__ import annotations

import datetime as dt
import time
import uuid

import boto3
import botocore.config
import botocore.exceptions
import pytest

from test_emulator_botocore import Emulator, running_emulator

DATA_YAML = """
customConnectors: [{label: home-crm}]
accounts:
  - accountId: "222222222222"
    customConnectors: [{label: team-b-crm}]
roles:
  - arn: arn:aws:iam::222222222222:role/appflow-observer
  - arn: arn:aws:iam::222222222222:role/guarded
    externalId: team-b
  - arn: arn:aws:iam::222222222222:role/brief
    sessionDurationSeconds: 2
"""

OBSERVER = "arn:aws:iam::222222222222:role/appflow-observer"
GUARDED = "arn:aws:iam::222222222222:role/guarded"
CONFIG = botocore.config.Config(retries={"mode": "standard", "total_max_attempts": 1})


@pytest.fixture(scope="module")
def emulator(tmp_path_factory):
    with running_emulator(tmp_path_factory.mktemp("appflow-emulator-sts"), DATA_YAML) as emu:
        yield emu


def client(emulator: Emulator, service: str, creds: dict | None = None, **config):
    creds = creds or {"AccessKeyId": "AKIDEXAMPLE", "SecretAccessKey": "x"}
    return boto3.client(
        service,
        endpoint_url=emulator.url,
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds.get("SessionToken"),
        config=CONFIG.merge(botocore.config.Config(**config)),
    )


@pytest.fixture(scope="module")
def sts(emulator):
    return client(emulator, "sts")


def assume(sts, role=OBSERVER, **kwargs):
    return sts.assume_role(RoleArn=role, RoleSessionName="operator", **kwargs)


def test_assume_role(sts):
    resp = assume(sts, DurationSeconds=900)
    meta = resp["ResponseMetadata"]
    assert meta["HTTPStatusCode"] == 200
    assert meta["HTTPHeaders"]["content-type"] == "text/xml"
    uuid.UUID(meta["RequestId"])
    creds = resp["Credentials"]
    assert creds["AccessKeyId"].startswith("ASIA") and len(creds["AccessKeyId"]) == 20
    assert len(creds["SecretAccessKey"]) == 40
    assert creds["SessionToken"]
    assert isinstance(creds["Expiration"], dt.datetime)
    left = (creds["Expiration"] - dt.datetime.now(dt.timezone.utc)).total_seconds()
    assert 880 <= left <= 900
    user = resp["AssumedRoleUser"]
    assert user["Arn"] == "arn:aws:sts::222222222222:assumed-role/appflow-observer/operator"
    assert user["AssumedRoleId"].startswith("AROA") and user["AssumedRoleId"].endswith(":operator")


def test_get_caller_identity(emulator, sts):
    me = sts.get_caller_identity()
    assert (me["Account"], me["Arn"]) == ("123456789012", "arn:aws:iam::123456789012:user/emulator")
    assert me["UserId"].startswith("AIDA")
    assumed = client(emulator, "sts", assume(sts)["Credentials"]).get_caller_identity()
    assert assumed["Account"] == "222222222222"
    assert assumed["Arn"] == "arn:aws:sts::222222222222:assumed-role/appflow-observer/operator"


def test_appflow_answers_per_account(emulator, sts):
    team_b = client(emulator, "appflow", assume(sts)["Credentials"])
    cfg = team_b.describe_connector(connectorType="CustomConnector", connectorLabel="team-b-crm")[
        "connectorConfiguration"
    ]
    assert cfg["connectorArn"] == "arn:aws:appflow:us-east-1:222222222222:connector/team-b-crm"
    with pytest.raises(team_b.exceptions.ResourceNotFoundException):
        team_b.describe_connector(connectorType="CustomConnector", connectorLabel="home-crm")
    assert team_b.describe_connector(connectorType="Slack")["connectorConfiguration"]["connectorType"] == "Slack"
    home = client(emulator, "appflow")
    home.describe_connector(connectorType="CustomConnector", connectorLabel="home-crm")
    with pytest.raises(home.exceptions.ResourceNotFoundException):
        home.describe_connector(connectorType="CustomConnector", connectorLabel="team-b-crm")
    accounts = emulator.stats()["accounts"]
    assert accounts["222222222222"]["calls"]["CustomConnector/team-b-crm"] >= 1
    assert accounts["123456789012"]["calls"]["CustomConnector/home-crm"] >= 1


def test_external_id(sts):
    for kwargs in ({}, {"ExternalId": "team-x"}):
        with pytest.raises(botocore.exceptions.ClientError) as info:
            assume(sts, GUARDED, **kwargs)
        err = info.value.response
        assert err["Error"]["Code"] == "AccessDenied"
        assert err["Error"]["Type"] == "Sender"
        assert err["Error"]["Message"] == (
            "User: arn:aws:iam::123456789012:user/emulator is not authorized to perform: "
            f"sts:AssumeRole on resource: {GUARDED}"
        )
        assert err["ResponseMetadata"]["HTTPStatusCode"] == 403
    assert assume(sts, GUARDED, ExternalId="team-b")["AssumedRoleUser"]["Arn"].endswith("/guarded/operator")


def test_role_made_unassumable_at_run_time(emulator, sts):
    role = "arn:aws:iam::222222222222:role/flipping"
    emulator.control("POST", "/_emulator/roles", {"arn": role})
    assume(sts, role)
    reply = emulator.control("POST", "/_emulator/roles", {"arn": role, "assumable": False})
    assert reply == {"role": role, "replaced": True}
    with pytest.raises(botocore.exceptions.ClientError) as info:
        assume(sts, role)
    assert info.value.response["Error"]["Code"] == "AccessDenied"
    assert emulator.stats()["sts"]["assumeRole"][role] == {"succeeded": 1, "refused": 1}


def test_validation_error(emulator):
    lax = client(emulator, "sts", parameter_validation=False)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        lax.assume_role(RoleArn=OBSERVER, RoleSessionName="x", DurationSeconds=60)
    err = info.value.response
    assert err["Error"]["Code"] == "ValidationError"
    assert err["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert err["Error"]["Message"] == (
        "2 validation errors detected: "
        "Value 'x' at 'roleSessionName' failed to satisfy constraint: Member must have length greater than or equal to 2; "
        "Value '60' at 'durationSeconds' failed to satisfy constraint: Member must have value greater than or equal to 900"
    )
    with pytest.raises(botocore.exceptions.ClientError) as info:
        lax.assume_role(RoleArn=OBSERVER)
    assert "Value null at 'roleSessionName'" in info.value.response["Error"]["Message"]


def test_expired_and_tokenless_credentials(emulator, sts):
    creds = assume(sts, "arn:aws:iam::222222222222:role/brief")["Credentials"]
    appflow = client(emulator, "appflow", creds)
    appflow.describe_connector(connectorType="CustomConnector", connectorLabel="team-b-crm")
    time.sleep(2.1)
    with pytest.raises(botocore.exceptions.ClientError) as info:
        appflow.describe_connector(connectorType="CustomConnector", connectorLabel="team-b-crm")
    err = info.value.response
    assert (err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]) == ("ExpiredTokenException", 403)
    assert err["Error"]["Message"] == "The security token included in the request is expired"
    with pytest.raises(botocore.exceptions.ClientError) as info:
        client(emulator, "sts", creds).get_caller_identity()
    assert info.value.response["Error"]["Code"] == "ExpiredToken"

    fresh = assume(sts)["Credentials"]
    tokenless = client(emulator, "appflow", {k: fresh[k] for k in ("AccessKeyId", "SecretAccessKey")})
    with pytest.raises(botocore.exceptions.ClientError) as info:
        tokenless.describe_connector(connectorType="Slack")
    assert info.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_unknown_action_and_unsigned_call(emulator):
    status, headers, body = emulator.request(
        "POST",
        "/",
        b"Action=GetCallerIdentity&Version=2011-06-15",
        {"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 403
    assert headers["Content-Type"] == "text/xml"
    assert b"<Code>MissingAuthenticationToken</Code>" in body
    signed = {
        "Content-Type": "application/x-www-form-urlencoded",
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240101/us-east-1/sts/aws4_request, "
        "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
        "X-Amz-Date": "20240101T000000Z",
    }
    status, _, body = emulator.request("POST", "/", b"Action=GetFederationToken&Version=2011-06-15", signed)
    assert status == 400
    assert b"<Code>InvalidAction</Code>" in body
