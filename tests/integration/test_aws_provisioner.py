"""The aws provisioner at its boundary: what it does before the engine runs."""

from __future__ import annotations

import stat
from datetime import UTC, datetime
from pathlib import Path

import boto3
import pytest

from fmbench_orch.models.compile import StackValues, compile_campaign
from fmbench_orch.models.loader import load_campaign
from fmbench_orch.orchestrator.hosts import Host
from fmbench_orch.orchestrator.keys import create_run_key
from fmbench_orch.orchestrator.provisioners import aws
from fmbench_orch.orchestrator.provisioners.pulumi_errors import PulumiMissing

REPO = Path(__file__).resolve().parents[2]
# An image moto knows in every region.
MOTO_IMAGE = "ami-12c6146b"


@pytest.fixture
def state_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "home"
    monkeypatch.setenv("FMBENCH_ORCH_HOME", str(home))
    monkeypatch.delenv("PULUMI_BACKEND_URL", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE", raising=False)
    monkeypatch.delenv("PULUMI_CONFIG_PASSPHRASE_FILE", raising=False)
    return home


@pytest.fixture
def ec2_run(tmp_path: Path):
    campaign = load_campaign(REPO / "examples" / "ec2-llama3-8b-g6e.yml")
    values = StackValues(
        run_id="2612031913a7",
        created_at=datetime(2026, 12, 3, 19, 13, tzinfo=UTC),
        operator="tester",
        operator_cidr="203.0.113.7/32",
    )
    run_dir = tmp_path / "run"
    create_run_key(run_dir / "keys", "test")
    return compile_campaign(campaign, values), run_dir


def test_the_file_backend_lives_in_the_users_state_home(state_home: Path):
    assert aws.backend_url() == f"file://{state_home / 'pulumi'}"
    assert (state_home / "pulumi").is_dir()


def test_pulumi_backend_url_from_the_environment_wins(
    state_home: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PULUMI_BACKEND_URL", "s3://team-state/pulumi")

    assert aws.backend_url() == "s3://team-state/pulumi"


def test_the_passphrase_is_generated_once_and_kept_private(state_home: Path):
    first = aws.passphrase_env()
    second = aws.passphrase_env()

    path = Path(first["PULUMI_CONFIG_PASSPHRASE_FILE"])
    assert first == second
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(path.read_text().strip()) >= 32


def test_a_users_own_passphrase_is_left_alone(
    state_home: Path, monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "theirs")

    assert aws.passphrase_env() == {}
    assert not (state_home / aws.PASSPHRASE_FILE).exists()


def test_without_the_pulumi_cli_up_says_how_to_install_it(
    state_home: Path, ec2_run, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
):
    spec, run_dir = ec2_run
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))

    with pytest.raises(PulumiMissing) as raised:
        aws.AwsProvisioner().up(spec, run_dir)

    assert "get.pulumi.com" in str(raised.value)


def test_the_operator_cidr_can_be_given_instead_of_looked_up(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setenv("FMBENCH_OPERATOR_CIDR", "198.51.100.23")

    assert aws.detect_operator_cidr() == "198.51.100.23/32"


@pytest.mark.usefixtures("aws")  # moto's server; `aws` here is the provisioner
def test_a_terminated_instance_says_so_when_its_host_stops_answering():
    ec2 = boto3.client("ec2", region_name="us-east-1")
    [running, gone] = ec2.run_instances(
        ImageId=MOTO_IMAGE, InstanceType="g5.xlarge", MinCount=2, MaxCount=2
    )["Instances"]
    ec2.terminate_instances(InstanceIds=[gone["InstanceId"]])

    def host(instance_id: str) -> Host:
        return Host(
            name="h",
            address="127.0.0.1",
            port=22,
            user="ubuntu",
            key_file=Path("unused"),
            host_key=None,
            instance_type="g5.xlarge",
            region="us-east-1",
            instance_id=instance_id,
        )

    provisioner = aws.AwsProvisioner()
    assert provisioner.why_lost(host(running["InstanceId"])) is None
    reason = provisioner.why_lost(host(gone["InstanceId"]))
    assert reason.startswith(f"instance {gone['InstanceId']} is terminated")
    assert "UserInitiatedShutdown" in reason


def test_a_reclaimed_spot_instance_is_named_as_a_spot_interruption():
    # moto cannot reclaim Spot capacity; this is describe_instances' reply then.
    reply = {
        "Reservations": [
            {
                "Instances": [
                    {
                        "InstanceId": "i-0abc",
                        "InstanceLifecycle": "spot",
                        "State": {"Name": "terminated"},
                        "StateReason": {
                            "Code": "Server.SpotInstanceTermination",
                            "Message": "Server.SpotInstanceTermination: Spot "
                            "instance termination",
                        },
                    }
                ]
            }
        ]
    }
    reason = aws.lost_reason(reply)
    assert reason.startswith("spot interruption: EC2 reclaimed Spot instance i-0abc")
    assert "spot: false" in reason


class InterruptedStack:
    """The Automation API's stack as an `up` stopped mid-create leaves it: the
    first destroy is refused because of the pending creates (engine text as
    the CLI prints it)."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.workspace = self

    def destroy(self, on_output=None) -> None:
        from pulumi.automation import CommandError
        from pulumi.automation._cmd import CommandResult

        self.calls.append("destroy")
        if self.calls.count("destroy") == 1:
            stderr = (
                "error: the current deployment has 1 resource(s) with pending "
                "operations:\n  * urn:pulumi:run::fmbench-orchestrator::"
                "aws:ec2/instance:Instance::g6e-2xlarge, interrupted while creating"
            )
            raise CommandError(CommandResult(stdout="", stderr=stderr, code=255))

    def refresh(self, clear_pending_creates: bool = False, on_output=None) -> None:
        self.calls.append(f"refresh clear_pending_creates={clear_pending_creates}")

    def remove_stack(self, name: str) -> None:
        self.calls.append(f"remove {name}")


@pytest.mark.usefixtures("aws")  # moto's server; the name hides the module
def test_destroy_after_an_interrupted_up_clears_pending_creates_and_sweeps_by_tag(
    ec2_run, monkeypatch: pytest.MonkeyPatch
):
    spec, run_dir = ec2_run
    ec2 = boto3.client("ec2", region_name="us-east-1")
    # Created by EC2 while the engine was stopped: in no state, tagged all the same.
    stray = ec2.run_instances(
        ImageId=MOTO_IMAGE,
        InstanceType="g6e.2xlarge",
        MinCount=1,
        MaxCount=1,
        TagSpecifications=[
            {
                "ResourceType": "instance",
                "Tags": [{"Key": "fmbench:run", "Value": spec.run_id}],
            }
        ],
    )["Instances"][0]["InstanceId"]
    stack = InterruptedStack()
    provisioner = aws.AwsProvisioner()
    monkeypatch.setattr(provisioner, "_stack", lambda spec, run_dir: stack)

    provisioner.destroy(spec, run_dir)

    assert stack.calls == [
        "destroy",
        "refresh clear_pending_creates=True",
        "destroy",
        f"remove {spec.stack_name}",
    ]
    [reservation] = ec2.describe_instances(InstanceIds=[stray])["Reservations"]
    assert reservation["Instances"][0]["State"]["Name"] == "terminated"
