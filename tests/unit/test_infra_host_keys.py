"""Host keys from the console: parsed from cloud-init's block, awaited against moto."""

from __future__ import annotations

import base64
import struct
import time

import boto3
import pytest
from botocore.exceptions import ClientError
from botocore.stub import Stubber
from moto.server import ThreadedMotoServer

from fmbench_orch.infra.host_keys import (
    BEGIN_MARKER,
    END_MARKER,
    HostKeysUnavailable,
    parse_console_host_keys,
    wait_for_host_keys,
)

REGION = "us-east-1"


def key(key_type: str, body: bytes = b"\x01" * 32) -> str:
    """A well-formed OpenSSH public key line of `key_type` (not a real key)."""
    name = key_type.encode()
    blob = struct.pack(">I", len(name)) + name + struct.pack(">I", len(body)) + body
    return f"{key_type} {base64.b64encode(blob).decode()}"


ED25519 = key("ssh-ed25519")
ECDSA = key("ecdsa-sha2-nistp256", b"\x04" * 65)
RSA = key("ssh-rsa", b"\x01\x00\x01" + b"\x02" * 64)

UBUNTU_CONSOLE = f"""\
[   10.123456] cloud-init[812]: Generating public/private ed25519 key pair.
<14>Sep  1 12:00:01 cloud-init: ##########################################
{BEGIN_MARKER}
{ECDSA} root@ip-10-0-0-5
{ED25519} root@ip-10-0-0-5
{RSA} root@ip-10-0-0-5
{END_MARKER}
<14>Sep  1 12:00:01 cloud-init: ##########################################
Cloud-init v. 24.1 finished at Mon, 01 Sep 2025 12:00:02 +0000.
"""


# --- parsing -----------------------------------------------------------------


def test_keys_are_read_from_the_block_with_ed25519_first_and_comments_dropped():
    assert parse_console_host_keys(UBUNTU_CONSOLE) == [ED25519, ECDSA, RSA]


def test_console_prefixes_on_key_lines_are_ignored():
    console = (
        f"{BEGIN_MARKER}\nec2: {ED25519} root@host\n[ 9.1] ec2: {RSA}\n{END_MARKER}\n"
    )

    assert parse_console_host_keys(console) == [ED25519, RSA]


def test_the_last_block_wins_after_a_reboot():
    other = key("ssh-ed25519", b"\x09" * 32)
    console = f"{BEGIN_MARKER}\n{ED25519}\n{END_MARKER}\n" + UBUNTU_CONSOLE.replace(
        ED25519, other
    )

    assert parse_console_host_keys(console)[0] == other


@pytest.mark.parametrize(
    "console",
    [
        "",
        "Cloud-init v. 24.1 running 'init' at boot\n",
        f"{BEGIN_MARKER}\n{ED25519}\n",  # still being printed
        f"{ED25519}\n{END_MARKER}\n",
    ],
)
def test_no_complete_block_means_no_keys(console):
    assert parse_console_host_keys(console) == []


def test_a_blob_that_does_not_decode_to_its_type_is_skipped():
    mislabelled = "ssh-ed25519 " + RSA.split()[1]
    truncated = ED25519[:-8]
    console = f"{BEGIN_MARKER}\n{mislabelled}\n{truncated}\n{ECDSA}\n{END_MARKER}\n"

    assert parse_console_host_keys(console) == [ECDSA]


# --- waiting, against moto's server ---------------------------------------------


@pytest.fixture(scope="module")
def ec2():
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    assert host == "127.0.0.1"
    try:
        yield boto3.client(
            "ec2",
            region_name=REGION,
            endpoint_url=f"http://127.0.0.1:{port}",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
    finally:
        server.stop()


@pytest.fixture
def instance_id(ec2) -> str:
    image = ec2.describe_images()["Images"][0]["ImageId"]
    reply = ec2.run_instances(
        ImageId=image, InstanceType="g6e.2xlarge", MinCount=1, MaxCount=1
    )
    return reply["Instances"][0]["InstanceId"]


def test_a_console_without_host_keys_times_out_naming_the_instance(ec2, instance_id):
    polls: list[float] = []

    with pytest.raises(HostKeysUnavailable) as caught:
        wait_for_host_keys(
            ec2,
            instance_id,
            deadline=time.monotonic() + 0.3,
            interval=0.1,
            sleep=lambda seconds: (polls.append(seconds), time.sleep(seconds)),
        )

    assert caught.value.instance_id == instance_id
    assert instance_id in str(caught.value)
    assert "cloud-init" in str(caught.value)
    assert 1 <= len(polls) <= 4
    assert all(seconds <= 0.1 for seconds in polls)


def test_an_instance_ec2_does_not_know_yet_is_retried_until_the_deadline(ec2):
    with pytest.raises(HostKeysUnavailable) as caught:
        wait_for_host_keys(
            ec2, "i-0123456789abcdef0", deadline=time.monotonic() + 0.2, interval=0.05
        )

    assert "InvalidInstanceID.NotFound" in caught.value.cause


def test_the_keys_are_returned_as_soon_as_the_block_appears(ec2):
    stubber = Stubber(ec2)
    empty = {"InstanceId": "i-1", "Output": ""}
    ready = {
        "InstanceId": "i-1",
        "Output": base64.b64encode(UBUNTU_CONSOLE.encode()).decode(),
    }
    stubber.add_response(
        "get_console_output", empty, {"InstanceId": "i-1", "Latest": True}
    )
    stubber.add_response(
        "get_console_output", ready, {"InstanceId": "i-1", "Latest": True}
    )

    with stubber:
        keys = wait_for_host_keys(
            ec2, "i-1", deadline=time.monotonic() + 5, interval=0.01
        )

    assert keys == [ED25519, ECDSA, RSA]
    stubber.assert_no_pending_responses()


def test_an_error_that_waiting_cannot_fix_is_raised_at_once(ec2):
    stubber = Stubber(ec2)
    stubber.add_client_error("get_console_output", "UnauthorizedOperation")

    with stubber, pytest.raises(ClientError, match="UnauthorizedOperation"):
        wait_for_host_keys(ec2, "i-1", deadline=time.monotonic() + 5, interval=0.01)
