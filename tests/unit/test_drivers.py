"""Drivers: the scripts they write, the command lines they build, their verdicts."""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from fmbench_orch.models.spec import BenchmarkSpec
from fmbench_orch.orchestrator.drivers import DriverError, driver_for
from fmbench_orch.orchestrator.drivers.command import (
    CommandDriver,
    MetricsError,
    environment,
    read_metrics,
)
from fmbench_orch.orchestrator.drivers.fmbench import (
    CLEANUP_CONFIG,
    CLEANUP_LOG,
    FmbenchDriver,
    command_line,
    install_spec,
    venv_name,
)


def command(**changes) -> BenchmarkSpec:
    fields = {"name": "b1", "driver": "command", "timeout_seconds": 60, "run": "true"}
    return BenchmarkSpec(**{**fields, **changes})


def fmbench(**changes) -> BenchmarkSpec:
    fields = {
        "name": "f1",
        "driver": "fmbench",
        "timeout_seconds": 3600,
        "config": "https://example.com/configs/config-llama3-8b.yml",
        "fmbench_version": "2.1.6",
    }
    return BenchmarkSpec(**{**fields, **changes})


def bash_syntax_ok(script: str) -> None:
    checked = subprocess.run(
        ["bash", "-n"], input=script, text=True, capture_output=True
    )
    assert checked.returncode == 0, checked.stderr


def run_bash(script: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["/bin/bash", "-c", script],
        cwd=cwd,
        text=True,
        capture_output=True,
        env={**os.environ, **env},
        check=False,
    )


class TestDriverFor:
    def test_names_both_drivers(self):
        assert driver_for("command").name == "command"
        assert driver_for("fmbench").name == "fmbench"

    def test_refuses_an_unknown_driver_naming_the_known_ones(self):
        with pytest.raises(DriverError, match="command, fmbench"):
            driver_for("vllm")


class TestCommandScript:
    def test_runs_in_the_work_directory_with_the_settings_exported(self, tmp_path):
        spec = command(
            run='echo "$FMBENCH_MODEL_ID|$FMBENCH_BATCH_SIZES|'
            '$FMBENCH_SEQUENCE_LENGTHS|$FMBENCH_NUM_ITERATIONS|$PWD"',
            model_id="meta/llama 3 'quoted'",
            batch_sizes=(1, 4, 16),
            sequence_lengths=(128, 2048),
            num_iterations=5,
        )
        script = CommandDriver().run_script(spec, "run1")
        (tmp_path / "work").mkdir()
        done = run_bash(script, tmp_path)
        assert done.returncode == 0, done.stderr
        expected = f"meta/llama 3 'quoted'|1,4,16|128,2048|5|{tmp_path / 'work'}\n"
        assert done.stdout == expected

    def test_exports_only_the_settings_the_campaign_gives(self):
        env = environment(command(model_id="m"), "run1")
        assert env == {
            "FMBENCH_BENCHMARK": "b1",
            "FMBENCH_RUN_ID": "run1",
            "FMBENCH_MODEL_ID": "m",
        }

    def test_a_multiline_command_keeps_its_exit_status(self, tmp_path):
        script = CommandDriver().run_script(command(run="echo a\nexit 7"), "r")
        (tmp_path / "work").mkdir()
        assert run_bash(script, tmp_path).returncode == 7

    def test_a_benchmark_without_a_command_is_refused(self):
        with pytest.raises(DriverError, match="no `run` command"):
            CommandDriver().run_script(command(run="  "), "r")

    def test_harvests_the_log_results_and_metrics_from_the_work_directory(self):
        spec = command(results="./out/", metrics="out/m.json")
        patterns = CommandDriver().harvest_patterns(spec)
        assert patterns == ["output.log", "work/out", "work/out/m.json"]

    @pytest.mark.parametrize("path", ["/etc", "../up", "a/../../b", ""])
    def test_refuses_results_outside_the_work_directory(self, path):
        with pytest.raises(DriverError, match="inside"):
            CommandDriver().harvest_patterns(command(results=path or " "))


class TestCommandVerdict:
    def judge(self, tmp_path, exit_code, metrics_text=None, **changes):
        if metrics_text is not None:
            (tmp_path / "work").mkdir(exist_ok=True)
            (tmp_path / "work" / "m.json").write_text(metrics_text)
        spec = command(metrics="m.json", **changes)
        return CommandDriver().judge(spec, exit_code, "", tmp_path)

    def test_exit_zero_with_valid_metrics_succeeds(self, tmp_path):
        verdict = self.judge(tmp_path, 0, json.dumps({"tps": 10, "p95": 0.25}))
        assert verdict.status == "success"
        assert verdict.metrics == {"tps": 10.0, "p95": 0.25}

    def test_a_non_zero_exit_fails_with_the_status(self, tmp_path):
        verdict = self.judge(tmp_path, 3, "{}")
        assert (verdict.status, verdict.reason) == (
            "failure",
            "the command exited with status 3",
        )

    def test_no_exit_code_fails_saying_it_was_killed(self, tmp_path):
        assert "killed" in self.judge(tmp_path, None, "{}").reason

    def test_a_missing_metrics_file_fails(self, tmp_path):
        verdict = self.judge(tmp_path, 0)
        assert verdict.status == "failure"
        assert verdict.reason == "metrics file work/m.json was not written"

    def test_without_metrics_exit_zero_is_enough(self, tmp_path):
        verdict = CommandDriver().judge(command(), 0, "", tmp_path)
        assert verdict.status == "success"


class TestReadMetrics:
    @pytest.mark.parametrize(
        ("text", "complaint"),
        [
            ("[1, 2]", "holds a list, expected an object"),
            ('{"a": "fast"}', "'a' is str \"fast\", expected a number"),
            ('{"a": true}', "'a' is bool true, expected a number"),
            ('{"a": {"b": 1}}', "'a' is dict"),
            ('{"a": NaN}', "'a' is nan, not finite"),
            ("{not json", "is not valid JSON"),
        ],
    )
    def test_names_the_file_and_what_is_wrong(self, tmp_path, text, complaint):
        path = tmp_path / "m.json"
        path.write_text(text)
        with pytest.raises(MetricsError) as caught:
            read_metrics(path, "work/m.json")
        assert "work/m.json" in str(caught.value)
        assert complaint in str(caught.value)


class TestFmbenchCommandLine:
    def test_local_mode_uses_the_placeholder_bucket_and_tmp(self):
        spec = fmbench(args={"model_id": "meta-llama/Llama-3-8B", "tp": "2"})
        assert command_line(spec, "fmbench") == [
            "fmbench",
            "--config-file",
            "https://example.com/configs/config-llama3-8b.yml",
            "--local-mode",
            "yes",
            "--write-bucket",
            "placeholder",
            "--tmp-dir",
            "/tmp",
            "-A",
            "model_id=meta-llama/Llama-3-8B",
            "-A",
            "tp=2",
        ]

    def test_remote_mode_writes_to_its_bucket(self):
        argv = command_line(fmbench(local_mode=False, write_bucket="my-bkt"), "x")
        assert argv[3:7] == ["--local-mode", "no", "--write-bucket", "my-bkt"]

    def test_remote_mode_without_a_bucket_is_refused(self):
        with pytest.raises(DriverError, match="write_bucket"):
            command_line(fmbench(local_mode=False), "fmbench")

    def test_a_local_config_is_uploaded_and_read_from_the_benchmark_directory(self):
        spec = fmbench(config="configs/my variant.yml", config_is_local=True)
        driver = FmbenchDriver()
        assert driver.uploads(spec) == [
            (Path("configs/my variant.yml"), "config/my variant.yml")
        ]
        assert command_line(spec, "fmbench")[2] == "../config/my variant.yml"
        assert "'../config/my variant.yml'" in driver.run_script(spec, "r")

    def test_a_benchmark_without_a_config_is_refused(self):
        with pytest.raises(DriverError, match="config"):
            command_line(fmbench(config=None), "fmbench")

    def test_the_run_script_execs_fmbench_from_its_venv_in_the_work_directory(self):
        script = FmbenchDriver().run_script(fmbench(args={"a": "b c"}), "r")
        bash_syntax_ok(script)
        venv = venv_name("fmbench==2.1.6")
        assert script.startswith("cd work || exit 1\n")
        assert f'exec "$RUN_ROOT/venvs/{venv}/bin/fmbench" --config-file' in script
        assert "-A 'a=b c'" in script


EXECUTION_ROLE = "fmbench-llama3-ab12cd34-sm"
PROFILE_ARN = (
    "arn:aws-us-gov:iam::123456789012:instance-profile/fmbench-llama3-ab12cd34"
)
EXECUTION_ROLE_ARN = f"arn:aws-us-gov:iam::123456789012:role/{EXECUTION_ROLE}"
IMDS_TOKEN = "imds-session-token"


class FakeMetadataService(BaseHTTPRequestHandler):
    """IMDSv2 as an EC2 host sees it: a session token first, then iam/info."""

    def do_PUT(self) -> None:
        if self.path != "/latest/api/token":
            return self._reply(404, "")
        self._reply(200, IMDS_TOKEN)

    def do_GET(self) -> None:
        if self.headers.get("X-aws-ec2-metadata-token") != IMDS_TOKEN:
            return self._reply(401, "")
        if self.path != "/latest/meta-data/iam/info":
            return self._reply(404, "")
        info = {"Code": "Success", "InstanceProfileArn": PROFILE_ARN}
        self._reply(200, json.dumps(info))

    def _reply(self, status: int, body: str) -> None:
        self.send_response(status)
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def metadata_service() -> Iterator[str]:
    """The fake IMDS's base URL, as AWS_EC2_METADATA_SERVICE_ENDPOINT takes it."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeMetadataService)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def run_root(tmp_path) -> Path:
    """A run root whose FMBench venv holds a stand-in that records its argv."""
    venv = tmp_path / "venvs" / venv_name("fmbench==2.1.6")
    (venv / "bin").mkdir(parents=True)
    (venv / "bin" / "python").symlink_to(shutil.which("python3"))
    fake = venv / "bin" / "fmbench"
    fake.write_text('#!/bin/bash\necho "$@" > argv.txt\n')
    fake.chmod(0o755)
    (tmp_path / "benchmarks" / "f1" / "work").mkdir(parents=True)
    return tmp_path


class TestFmbenchExecutionRole:
    """With the stack's SageMaker execution role, FMBench gets --role-arn."""

    def test_the_role_arn_follows_the_tmp_dir_flag(self):
        argv = command_line(fmbench(execution_role=EXECUTION_ROLE), "x", "ARN")

        assert argv[7:11] == ["--tmp-dir", "/tmp", "--role-arn", "ARN"]

    def test_without_an_execution_role_fmbench_picks_its_own(self):
        assert "--role-arn" not in command_line(fmbench(), "x")
        assert "role_arn" not in FmbenchDriver().run_script(fmbench(), "r")

    def test_the_arn_is_the_execution_roles_in_the_instance_profiles_account(
        self, run_root, metadata_service
    ):
        script = FmbenchDriver().run_script(fmbench(execution_role=EXECUTION_ROLE), "r")

        done = run_bash(
            script,
            run_root / "benchmarks" / "f1",
            AWS_EC2_METADATA_SERVICE_ENDPOINT=metadata_service,
        )

        assert done.returncode == 0, done.stderr
        argv = (run_root / "benchmarks" / "f1" / "work" / "argv.txt").read_text()
        assert f"--tmp-dir /tmp --role-arn {EXECUTION_ROLE_ARN}\n" in argv

    def test_a_host_without_a_metadata_service_fails_before_fmbench_starts(
        self, run_root, metadata_service
    ):
        script = FmbenchDriver().run_script(fmbench(execution_role=EXECUTION_ROLE), "r")
        unanswered = metadata_service.rsplit(":", 1)[0] + ":9"  # discard port

        done = run_bash(
            script,
            run_root / "benchmarks" / "f1",
            AWS_EC2_METADATA_SERVICE_ENDPOINT=unanswered,
        )

        assert done.returncode == 1
        assert "cannot read this host's instance profile" in done.stderr
        assert "--role-arn" in done.stderr
        assert not (run_root / "benchmarks" / "f1" / "work" / "argv.txt").exists()

    def test_fmbenchs_cleanup_step_gets_the_same_role_arn(
        self, run_root, metadata_service
    ):
        directory = run_root / "benchmarks" / "f1"
        (directory / "config").mkdir()
        (directory / "config" / "variant.yml").write_text(FMBENCH_CONFIG)
        spec = fmbench(
            config="configs/variant.yml",
            config_is_local=True,
            execution_role=EXECUTION_ROLE,
        )
        script = FmbenchDriver().cleanup_script(spec, timed_out=True)

        done = run_bash(
            script, directory, AWS_EC2_METADATA_SERVICE_ENDPOINT=metadata_service
        )

        assert done.returncode == 0, done.stderr
        argv = (directory / "work" / "argv.txt").read_text().split()
        assert argv[argv.index("--role-arn") + 1] == EXECUTION_ROLE_ARN

    def test_a_cleanup_step_that_cannot_find_the_role_fails_naming_its_log(
        self, run_root
    ):
        directory = run_root / "benchmarks" / "f1"
        (directory / "config").mkdir()
        (directory / "config" / "variant.yml").write_text(FMBENCH_CONFIG)
        spec = fmbench(
            config="configs/variant.yml",
            config_is_local=True,
            execution_role=EXECUTION_ROLE,
        )
        script = FmbenchDriver().cleanup_script(spec, timed_out=True)

        done = run_bash(
            script, directory, AWS_EC2_METADATA_SERVICE_ENDPOINT="http://127.0.0.1:9"
        )

        assert done.returncode == 1
        assert f"see {CLEANUP_LOG}" in done.stderr
        log = (directory / CLEANUP_LOG).read_text()
        assert "cannot read this host's instance profile" in log
        assert not (directory / "work" / "argv.txt").exists()


class TestFmbenchInstall:
    def test_install_spec_prefers_a_repository_then_a_version(self):
        repo = "https://github.com/aws-samples/foundation-model-benchmarking-tool"
        assert install_spec(fmbench(fmbench_repo=repo, fmbench_ref="v2.1.6")) == (
            f"git+{repo}@v2.1.6"
        )
        assert install_spec(fmbench(fmbench_repo=repo)) == f"git+{repo}"
        assert install_spec(fmbench()) == "fmbench==2.1.6"
        assert install_spec(fmbench(fmbench_version=None)) == "fmbench"

    def test_bootstrap_installs_each_distinct_version_once(self):
        script = FmbenchDriver().bootstrap_script(
            [fmbench(), fmbench(name="f2"), fmbench(name="f3", fmbench_version="2.1.5")]
        )
        bash_syntax_ok(script)
        assert script.count("\ninstall_fmbench ") == 2
        assert f"install_fmbench {venv_name('fmbench==2.1.6')} fmbench==2.1.6" in script
        assert "uv venv --python 3.12" in script
        assert "python3.12 -m venv" in script

    def test_bootstrap_fails_clearly_without_uv_or_python312(self, tmp_path):
        script = FmbenchDriver().bootstrap_script([fmbench()])
        (tmp_path / "bootstrap").mkdir()
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        for tool in ("cat", "rm", "dirname"):
            (bin_dir / tool).symlink_to(f"/bin/{tool}")
        done = run_bash(
            f"PATH={shlex.quote(str(bin_dir))}\n{script}",
            tmp_path / "bootstrap",
            HOME=str(tmp_path),
        )
        assert done.returncode == 1
        assert "FMBench needs Python 3.12: install uv or python3.12" in done.stderr

    def test_bootstrap_skips_an_install_that_is_already_there(self, tmp_path):
        venv = tmp_path / "venvs" / venv_name("fmbench==2.1.6")
        (venv / "bin").mkdir(parents=True)
        (venv / "bin" / "fmbench").write_text("#!/bin/sh\n")
        (venv / "bin" / "fmbench").chmod(0o755)
        (venv / ".installed").write_text("fmbench==2.1.6")
        (tmp_path / "bootstrap").mkdir()
        script = FmbenchDriver().bootstrap_script([fmbench()])
        done = run_bash(script, tmp_path / "bootstrap", HOME=str(tmp_path))
        assert done.returncode == 0, done.stderr
        assert "FMBench already installed: fmbench==2.1.6" in done.stdout


class TestFmbenchVerdict:
    def test_a_report_older_than_the_start_is_not_found_by_the_check(self, tmp_path):
        report = tmp_path / "work" / "results-old" / "report.md"
        report.parent.mkdir(parents=True)
        report.write_text("# stale")
        past = time.time() - 3600
        os.utime(report, (past, past))
        (tmp_path / "pid").write_text("1 2 3\n")
        check = FmbenchDriver().check_script(fmbench())
        assert run_bash(check, tmp_path).stdout == ""

        fresh = tmp_path / "work" / "results-new" / "report.md"
        fresh.parent.mkdir()
        fresh.write_text("# fresh")
        os.utime(fresh, (time.time() + 5, time.time() + 5))
        assert run_bash(check, tmp_path).stdout == "work/results-new/report.md\n"

    def test_the_run_script_renames_stale_results_away(self, tmp_path):
        stale = tmp_path / "work" / "results-x"
        stale.mkdir(parents=True)
        script = (
            FmbenchDriver()
            .run_script(fmbench(), "r")
            .replace("exec ", "echo would run ")
        )
        done = run_bash(script, tmp_path, PATH="/usr/bin:/bin")
        assert done.returncode == 0, done.stderr
        assert not stale.exists()
        assert any(
            p.name.startswith("stale-results-x.") for p in stale.parent.iterdir()
        )

    def test_exit_zero_without_a_fresh_report_is_a_failure(self, tmp_path):
        verdict = FmbenchDriver().judge(fmbench(), 0, "", tmp_path)
        assert verdict.status == "failure"
        assert "no results-*/report.md" in verdict.reason

    def test_a_failed_step_is_a_failure_with_the_status(self, tmp_path):
        verdict = FmbenchDriver().judge(fmbench(), 1, "", tmp_path)
        assert "status 1" in verdict.reason

    def test_success_reads_headline_metrics_from_the_summary(self, tmp_path):
        results = tmp_path / "work" / "results-llama"
        results.mkdir(parents=True)
        (results / "all_metrics_summary.csv").write_text(
            "experiment_name,payload_file,concurrency,error_rate,latency_p95,"
            "transactions_per_minute\n"
            "e1,p.jsonl,1,0,0.8,60\n"
            "e1,p.jsonl,4,0,1.6,200\n"
            "e1,p.jsonl,8,0.5,3.0,400\n"
        )
        verdict = FmbenchDriver().judge(
            fmbench(), 0, "work/results-llama/report.md\n", tmp_path
        )
        assert verdict.status == "success"
        headline = {
            key: verdict.metrics[key]
            for key in ("summary_rows", "max_transactions_per_minute")
        }
        assert headline == {"summary_rows": 3.0, "max_transactions_per_minute": 200.0}
        assert verdict.metrics["latency_p95_at_max_tpm"] == 1.6
        assert verdict.metrics["e1/p.jsonl/c8/error_rate"] == 0.5

    def test_a_missing_summary_fails_naming_the_file(self, tmp_path):
        (tmp_path / "work" / "results-llama").mkdir(parents=True)
        verdict = FmbenchDriver().judge(
            fmbench(), 0, "work/results-llama/report.md\n", tmp_path
        )
        assert verdict.status == "failure"
        assert "all_metrics_summary.csv" in verdict.reason


class TestFmbenchContainers:
    def test_cleanup_is_quiet_without_docker(self, tmp_path):
        script = FmbenchDriver().cleanup_script(fmbench(), timed_out=False)
        done = run_bash(script, tmp_path, PATH="/nonexistent")
        assert (done.returncode, done.stdout, done.stderr) == (0, "", "")

    def test_cleanup_stops_only_containers_started_after_the_benchmark(self, tmp_path):
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        fake = bin_dir / "docker"
        fake.write_text(
            "#!/bin/bash\n"
            'if [ "$1" = ps ]; then printf "old1\\nnew1\\nnew2\\n"; fi\n'
            f'if [ "$1" = stop ]; then shift; echo "$@" > {tmp_path}/stopped; fi\n'
        )
        fake.chmod(0o755)
        (tmp_path / "docker_before").write_text("old1\n")
        script = FmbenchDriver().cleanup_script(fmbench(), timed_out=False)
        done = run_bash(script, tmp_path, PATH=f"{bin_dir}:/usr/bin:/bin")
        assert done.returncode == 0, done.stderr
        assert (tmp_path / "stopped").read_text() == "new1 new2\n"


FMBENCH_CONFIG = """\
general:
  name: "llama3-8b-g6e"
aws:
  region: {region}
run_steps:
  0_setup.ipynb: yes
  1_generate_data.ipynb: yes
  2_deploy_model.ipynb: yes
  3_run_inference.ipynb: yes
  4_get_evaluations.ipynb: no
  5_model_metric_analysis.ipynb: yes
  6_cleanup.ipynb: no   # the config's author left endpoints up on purpose
"""


class TestFmbenchCleanupStep:
    """After a timeout FMBench runs once more with only its cleanup step on."""

    @pytest.fixture
    def benchmark_dir(self, tmp_path) -> Path:
        """`<run root>/benchmarks/f1` with a stand-in FMBench in its venv that
        records its argv and the config it was given."""
        spec = fmbench(config="configs/variant.yml", config_is_local=True)
        venv = tmp_path / "venvs" / venv_name(install_spec(spec))
        (venv / "bin").mkdir(parents=True)
        (venv / "bin" / "python").symlink_to(shutil.which("python3"))
        fake = venv / "bin" / "fmbench"
        fake.write_text(
            "#!/bin/bash\n"
            'echo "$@" > argv.txt; cp "$2" seen-config.yml\n'
            'echo "deleting endpoint llama-ep"; exit "${FAKE_STATUS:-0}"\n'
        )
        fake.chmod(0o755)
        directory = tmp_path / "benchmarks" / "f1"
        (directory / "work").mkdir(parents=True)
        (directory / "config").mkdir()
        (directory / "config" / "variant.yml").write_text(FMBENCH_CONFIG)
        return directory

    def script(self, timed_out: bool) -> str:
        spec = fmbench(
            config="configs/variant.yml",
            config_is_local=True,
            args={"instance_type": "g6e.2xlarge"},
        )
        return FmbenchDriver().cleanup_script(spec, timed_out=timed_out)

    def test_a_benchmark_that_ended_by_itself_only_gets_its_containers_stopped(
        self, benchmark_dir
    ):
        done = run_bash(self.script(timed_out=False), benchmark_dir)

        assert done.returncode == 0, done.stderr
        assert not (benchmark_dir / "work" / "argv.txt").exists()

    def test_after_a_timeout_fmbench_runs_its_cleanup_step_with_the_same_flags(
        self, benchmark_dir
    ):
        done = run_bash(self.script(timed_out=True), benchmark_dir)

        assert done.returncode == 0, done.stderr
        work = benchmark_dir / "work"
        assert (work / "argv.txt").read_text().split() == [
            "--config-file", CLEANUP_CONFIG, "--local-mode", "yes",
            "--write-bucket", "placeholder", "--tmp-dir", "/tmp",
            "-A", "instance_type=g6e.2xlarge",
        ]  # fmt: skip
        seen = (work / "seen-config.yml").read_text()
        steps = dict(
            line.split("#")[0].strip().split(": ")
            for line in seen.splitlines()
            if ".ipynb" in line
        )
        assert steps == {
            "0_setup.ipynb": "no",
            "1_generate_data.ipynb": "no",
            "2_deploy_model.ipynb": "no",
            "3_run_inference.ipynb": "no",
            "4_get_evaluations.ipynb": "no",
            "5_model_metric_analysis.ipynb": "no",
            "6_cleanup.ipynb": "yes",
        }
        # FMBench fills its placeholders into the text itself: left as written.
        assert "region: {region}" in seen and 'name: "llama3-8b-g6e"' in seen
        assert "deleting endpoint llama-ep" in (benchmark_dir / CLEANUP_LOG).read_text()

    def test_a_failed_cleanup_step_fails_the_script_naming_its_log(self, benchmark_dir):
        done = run_bash(self.script(timed_out=True), benchmark_dir, FAKE_STATUS="3")

        assert done.returncode == 1
        assert f"failed (status 3); see {CLEANUP_LOG}" in done.stderr

    def test_a_config_without_a_cleanup_step_is_reported_not_run(self, benchmark_dir):
        config = benchmark_dir / "config" / "variant.yml"
        config.write_text("general: {name: x}\nrun_steps:\n  0_setup.ipynb: yes\n")

        done = run_bash(self.script(timed_out=True), benchmark_dir)

        assert done.returncode == 1
        assert not (benchmark_dir / "work" / "argv.txt").exists()
        assert "no 6_cleanup.ipynb step" in (benchmark_dir / CLEANUP_LOG).read_text()

    def test_a_host_without_fmbench_installed_has_nothing_to_clean(self, tmp_path):
        directory = tmp_path / "benchmarks" / "f1"
        (directory / "work").mkdir(parents=True)

        done = run_bash(self.script(timed_out=True), directory)

        assert (done.returncode, done.stderr) == (0, "")
