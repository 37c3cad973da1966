"""The runner against real SSH servers: OpenSSH on loopback and the local provider."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import threading
import time
import uuid
from pathlib import Path

import pytest
from sshd_server import drop_connections, free_port, new_host_key

from fmbench_orch.models.spec import BenchmarkSpec, UploadSpec
from fmbench_orch.orchestrator import jobs
from fmbench_orch.orchestrator.drivers.command import CommandDriver
from fmbench_orch.orchestrator.drivers.fmbench import install_spec, venv_name
from fmbench_orch.orchestrator.events import EventLog, read_events
from fmbench_orch.orchestrator.layout import RemoteLayout
from fmbench_orch.orchestrator.remote import RemoteHost
from fmbench_orch.orchestrator.runner import RunnerLimits, run_benchmarks

pytestmark = pytest.mark.sshd

FAST = RunnerLimits(connect_deadline_s=3.0, reconnect_deadline_s=15.0)
# Counts how often a benchmark really ran: one line per start, in the run root.
COUNT_STARTS = "echo started >> ../../../starts.txt\n"


def run(spec, hosts, run_dir: Path, **kwargs):
    events = EventLog(run_dir)
    return run_benchmarks(spec, hosts, run_dir, events, limits=FAST, **kwargs)


def events_of(run_dir: Path, phase: str, outcome: str | None = None) -> list[dict]:
    return [
        event
        for event in read_events(run_dir)
        if event["phase"] == phase and outcome in (None, event["outcome"])
    ]


def running(pid: int) -> bool:
    """Exists and is not a zombie (the test box's init does not reap)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def test_a_command_benchmark_succeeds_with_metrics_artifacts_and_events(
    target, make_spec, command_bench, tmp_path
):
    bench = command_bench(
        "hello",
        'mkdir -p out && echo "$FMBENCH_BATCH_SIZES|$FMBENCH_MODEL_ID" > out/env.txt\n'
        'echo \'{"tps": 12.5, "p95": 3}\' > metrics.json\necho finished',
        results="out",
        metrics="metrics.json",
        model_id="org/model x",
        batch_sizes=(1, 8),
    )
    spec = make_spec({"h1": [bench]})
    seen = []

    def progress(host, benchmark, phase=None, line=None):
        seen.append((host, benchmark, phase, line))

    [result] = run(spec, target.provide(spec, tmp_path), tmp_path, progress=progress)

    assert result.status == "success", result.reason
    assert ("h1", None, "connect", None) in seen
    assert ("h1", "hello", "harvest", None) in seen
    assert ("h1", "hello", None, "finished") in seen
    assert (result.exit_code, result.metrics) == (0, {"tps": 12.5, "p95": 3.0})
    assert (result.instance_type, result.price_per_hour) == ("loopback.sshd", 1.25)
    assert result.started_at <= result.finished_at
    by_path = {artifact.path: artifact for artifact in result.artifacts}
    env_file = tmp_path / "artifacts/h1/hello/work/out/env.txt"
    assert env_file.read_text() == "1,8|org/model x\n"
    env_artifact = by_path["artifacts/h1/hello/work/out/env.txt"]
    assert env_artifact.sha256 == hashlib.sha256(env_file.read_bytes()).hexdigest()
    assert "artifacts/h1/hello/output.log" in by_path
    assert "finished" in (tmp_path / "logs/h1/hello.log").read_text()
    recorded = json.loads((tmp_path / "results/h1/hello.json").read_text())
    assert recorded["status"] == "success"
    for phase in ("connect", "bootstrap", "start", "running", "exit", "harvest"):
        assert events_of(tmp_path, phase), phase


def test_a_failing_benchmark_records_its_exit_code_and_the_next_one_still_runs(
    target, make_spec, command_bench, tmp_path
):
    spec = make_spec(
        {"h1": [command_bench("bad", "echo oops; exit 3"), command_bench("ok", "true")]}
    )
    bad, ok = run(spec, target.provide(spec, tmp_path), tmp_path)

    assert (bad.status, bad.exit_code) == ("failure", 3)
    assert "status 3" in bad.reason
    assert "oops" in (tmp_path / "logs/h1/bad.log").read_text()
    assert ok.status == "success"


def test_a_benchmark_past_its_timeout_is_killed_with_its_whole_group(
    target, make_spec, command_bench, tmp_path
):
    bench = command_bench(
        "slow",
        "sleep 300 & echo child $!\nsleep 300",
        timeout_seconds=2,
    )
    spec = make_spec({"h1": [bench]})
    started = time.monotonic()
    [result] = run(spec, target.provide(spec, tmp_path), tmp_path)

    assert result.status == "timeout"
    assert "killed" in result.reason
    # Far below the payload's 300 s: the run did not wait for it (the margin is
    # for a loaded CI machine, not a performance target).
    assert time.monotonic() - started < 60
    bench_dir = target.home(tmp_path, "h1") / RemoteLayout(spec.run_id).benchmark_dir(
        "slow"
    )
    leader = int((bench_dir / "pid").read_text().split()[0])
    child = int((tmp_path / "logs/h1/slow.log").read_text().split()[1])
    assert not running(leader)
    assert not running(child)
    assert events_of(tmp_path, "kill", "gone")


def test_background_processes_a_finished_benchmark_left_are_stopped(
    target, make_spec, command_bench, tmp_path
):
    bench = command_bench("leaves", "sleep 300 >/dev/null 2>&1 & echo bg $!")
    spec = make_spec({"h1": [bench]})
    [result] = run(spec, target.provide(spec, tmp_path), tmp_path)

    assert result.status == "success", result.reason
    leftover = int((tmp_path / "logs/h1/leaves.log").read_text().split()[1])
    assert not running(leftover)
    [kill] = events_of(tmp_path, "kill")
    assert (kill["outcome"], kill["detail"]) == ("gone", "ended")


def test_a_group_that_ignores_sigterm_is_killed_after_the_grace(
    sshd, make_spec, command_bench, tmp_path, monkeypatch
):
    monkeypatch.setattr(jobs, "KILL_GRACE_S", 0.5)
    bench = command_bench(
        "stubborn", "trap '' TERM\nsleep 300 & echo child $!\nwait", timeout_seconds=1
    )
    spec = make_spec({"h1": [bench]})
    [result] = run(spec, [sshd.host("h1")], tmp_path)

    assert result.status == "timeout"
    child = int((tmp_path / "logs/h1/stubborn.log").read_text().split()[1])
    assert not running(child)


def test_a_dropped_connection_is_reattached_and_the_result_stays_right(
    target, make_spec, command_bench, tmp_path
):
    script = COUNT_STARTS + "for i in $(seq 8); do echo tick $i; sleep 0.3; done"
    spec = make_spec(
        {"h1": [command_bench("ticks", script), command_bench("next", "true")]}
    )
    cut = []

    def cut_once(host, benchmark, phase=None, line=None):
        if benchmark == "ticks" and line in ("tick 2", "tick 3", "tick 4") and not cut:
            cut.append(drop_connections())

    ticks, after = run(
        spec, target.provide(spec, tmp_path), tmp_path, progress=cut_once
    )

    assert cut and cut[0] >= 1
    assert ticks.status == "success", ticks.reason
    log = (tmp_path / "logs/h1/ticks.log").read_text()
    assert log == "".join(f"tick {i}\n" for i in range(1, 9))
    run_root = target.home(tmp_path, "h1") / RemoteLayout(spec.run_id).root
    assert (run_root / "starts.txt").read_text() == "started\n"
    assert events_of(tmp_path, "connect", "reconnected")
    assert after.status == "success"


def test_a_restarted_orchestrator_reattaches_instead_of_starting_again(
    sshd, make_spec, command_bench, tmp_path, remote_root
):
    bench = command_bench("long", COUNT_STARTS + "sleep 1; echo done")
    spec = make_spec({"h1": [bench]})
    host = sshd.host("h1")
    known_hosts = tmp_path / "earlier_known_hosts"
    known_hosts.write_text(f"{host.known_hosts_name} {host.host_key}\n")
    earlier = RemoteHost(host, known_hosts)
    earlier.connect(5)
    directory = RemoteLayout(spec.run_id).benchmark_dir("long")
    jobs.start(earlier, directory, CommandDriver().run_script(bench, spec.run_id), "t")
    earlier.close()

    [result] = run(spec, [host], tmp_path)

    assert result.status == "success", result.reason
    assert (remote_root / "starts.txt").read_text() == "started\n"
    assert events_of(tmp_path, "running", "reattached")
    assert not events_of(tmp_path, "start", "ok")
    assert "done" in (tmp_path / "logs/h1/long.log").read_text()


def test_resume_skips_recorded_results(sshd, make_spec, command_bench, tmp_path):
    spec = make_spec({"h1": [command_bench("once", "echo $RANDOM")]})
    [first] = run(spec, [sshd.host("h1")], tmp_path)
    starts = len(events_of(tmp_path, "start"))

    [again] = run(spec, [sshd.host("h1")], tmp_path)

    assert again == first
    assert len(events_of(tmp_path, "start")) == starts


def test_a_host_that_never_answers_fails_alone(
    sshd, make_spec, command_bench, tmp_path
):
    spec = make_spec(
        {"dead": [command_bench("a", "true")], "alive": [command_bench("b", "true")]}
    )
    hosts = [sshd.host("dead", port=free_port()), sshd.host("alive")]
    started = time.monotonic()
    dead, alive = run(spec, hosts, tmp_path)

    assert time.monotonic() - started < FAST.connect_deadline_s + 10
    assert dead.status == "failure"
    assert "connect failed" in dead.reason
    assert "reachable" in dead.reason
    assert alive.status == "success"
    assert events_of(tmp_path, "connect", "failed")[0]["host"] == "dead"


def test_a_host_gone_from_under_the_run_says_why_in_its_result(
    sshd, make_spec, command_bench, tmp_path
):
    spec = make_spec({"spot": [command_bench("a", "true")]})
    asked = []

    def why_lost(host) -> str:
        asked.append(host.name)
        return "spot interruption: EC2 reclaimed Spot instance i-0abc"

    [result] = run(
        spec, [sshd.host("spot", port=free_port())], tmp_path, explain=why_lost
    )

    assert asked == ["spot"]
    assert result.status == "failure"
    assert result.reason.startswith("spot interruption: EC2 reclaimed Spot instance")
    assert "connect failed" in result.reason


def test_a_host_with_the_wrong_key_is_refused_at_once(
    sshd, make_spec, command_bench, tmp_path
):
    spec = make_spec({"h1": [command_bench("a", "touch ../../../ran")]})
    _, other_key = new_host_key()
    started = time.monotonic()
    [result] = run(spec, [sshd.host("h1", host_key=other_key)], tmp_path)

    assert time.monotonic() - started < FAST.connect_deadline_s
    assert result.status == "failure"
    assert "unexpected key" in result.reason


def test_a_failed_bootstrap_fails_every_benchmark_of_its_host(
    sshd, make_spec, command_bench, tmp_path, monkeypatch
):
    monkeypatch.setattr(
        CommandDriver, "bootstrap_script", lambda self, b: "echo broken-tooling\nexit 4"
    )
    spec = make_spec({"h1": [command_bench("a", "true"), command_bench("b", "true")]})
    results = run(spec, [sshd.host("h1")], tmp_path)

    assert [r.status for r in results] == ["failure", "failure"]
    assert all(
        "bootstrap failed" in r.reason and "status 4" in r.reason for r in results
    )
    assert "broken-tooling" in (tmp_path / "logs/h1/bootstrap.log").read_text()
    assert events_of(tmp_path, "bootstrap", "failed")
    assert not events_of(tmp_path, "start")


def test_thousands_of_small_files_and_a_large_one_go_up_and_come_back_intact(
    target, make_spec, command_bench, tmp_path, run_id
):
    small = tmp_path / "inputs" / "small"
    for index in range(2000):
        folder = small / f"d{index % 20}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"file {index}.txt").write_text(f"payload {index}\n" * (index % 7))
    big = tmp_path / "inputs" / "big.bin"
    big.write_bytes(os.urandom(50 * 1024 * 1024 + 17))
    root = RemoteLayout(run_id).root
    uploads = (
        UploadSpec(local=small, remote=f"~/{root}/in/small"),
        UploadSpec(local=big, remote=f"{root}/in/big.bin"),
    )
    bench = command_bench(
        "copy",
        "mkdir -p out && cp -r ../../../in/small ../../../in/big.bin out/",
        results="out",
    )
    spec = make_spec({"h1": [bench]}, uploads={"h1": uploads})
    run_dir = tmp_path / "run"
    [result] = run(spec, target.provide(spec, run_dir), run_dir)

    assert result.status == "success", result.reason
    paths = {artifact.path: artifact for artifact in result.artifacts}
    assert sum(p.startswith("artifacts/h1/copy/work/out/small/") for p in paths) == 2000
    got = paths["artifacts/h1/copy/work/out/big.bin"]
    assert got.size == big.stat().st_size
    assert got.sha256 == hashlib.sha256(big.read_bytes()).hexdigest()
    copied = tmp_path / "run/artifacts/h1/copy/work/out/small/d7/file 1987.txt"
    assert copied.read_text() == "payload 1987\n" * (1987 % 7)


def test_secrets_land_0600_and_appear_in_no_log(
    sshd, make_spec, command_bench, tmp_path, run_id, remote_root, caplog
):
    caplog.set_level(logging.DEBUG)
    secret = f"hf_{uuid.uuid4().hex}"
    token = tmp_path / "token.txt"
    token.write_text(secret)
    tree = tmp_path / "creds"
    tree.mkdir()
    (tree / "key").write_text(secret)
    root = RemoteLayout(run_id).root
    uploads = (
        UploadSpec(local=token, remote=f"{root}/scripts/hf_token.txt", secret=True),
        UploadSpec(local=tree, remote=f"{root}/creds", secret=True),
    )
    bench = command_bench("uses", "test -s ../../../scripts/hf_token.txt && echo ok")
    spec = make_spec({"h1": [bench]}, uploads={"h1": uploads})
    [result] = run(spec, [sshd.host("h1")], tmp_path / "run")

    assert result.status == "success", result.reason
    assert (remote_root / "scripts/hf_token.txt").stat().st_mode & 0o777 == 0o600
    assert (remote_root / "creds/key").stat().st_mode & 0o777 == 0o600
    assert (remote_root / "creds").stat().st_mode & 0o777 == 0o700
    for path in (tmp_path / "run").rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), path
    assert secret not in caplog.text


def test_stop_kills_the_running_benchmark_and_starts_no_other(
    target, make_spec, command_bench, tmp_path
):
    spec = make_spec(
        {
            "h1": [
                command_bench("long", "echo begun; sleep 300"),
                command_bench("next", "true"),
            ]
        }
    )
    stop = threading.Event()

    def stop_when_begun(host, benchmark, phase=None, line=None):
        if line == "begun":
            stop.set()

    started = time.monotonic()
    results = run(
        spec,
        target.provide(spec, tmp_path),
        tmp_path,
        progress=stop_when_begun,
        stop=stop,
    )

    assert time.monotonic() - started < 20
    [long] = results
    assert long.status == "failure"
    assert "stopped" in long.reason
    assert not (tmp_path / "results/h1/long.json").exists()
    bench_dir = target.home(tmp_path, "h1") / RemoteLayout(spec.run_id).benchmark_dir(
        "long"
    )
    assert not (bench_dir / "pid").exists()
    assert events_of(tmp_path, "exit", "stopped")
    assert not events_of(tmp_path, "start", "ok")[1:]


def test_the_fmbench_driver_needs_a_fresh_report(
    sshd, make_spec, tmp_path, remote_root
):
    def fmbench(name: str, config: str, **changes) -> BenchmarkSpec:
        return BenchmarkSpec(
            name=name,
            driver="fmbench",
            timeout_seconds=60,
            config=config,
            fmbench_version="2.1.6",
            args={"instance_type": "g6e.2xlarge"},
            **changes,
        )

    local_config = tmp_path / "configs" / "variant.yml"
    local_config.parent.mkdir()
    local_config.write_text("general: {name: fake}\n")
    good = fmbench("good", str(local_config), config_is_local=True)
    empty = fmbench("empty", "https://x.invalid/noreport.yml")
    venv = remote_root / "venvs" / venv_name(install_spec(good))
    (venv / "bin").mkdir(parents=True)
    (venv / ".installed").write_text(install_spec(good))
    fake = venv / "bin" / "fmbench"
    fake.write_text(
        "#!/bin/bash\n"
        'echo "$@" > argv.txt; echo "fake fmbench log" > fmbench.log\n'
        "[[ $2 == *noreport* ]] && exit 0\n"
        "mkdir -p results-fake && echo '# report' > results-fake/report.md\n"
        "printf 'experiment_name,payload_file,concurrency,error_rate,latency_p95,"
        "transactions_per_minute\\ne1,payload.jsonl,1,0,1.5,90\\n'"
        " > results-fake/all_metrics_summary.csv\n"
    )
    fake.chmod(0o755)
    spec = make_spec({"h1": [good, empty]})
    ok, no_report = run(spec, [sshd.host("h1")], tmp_path / "run")

    assert ok.status == "success", ok.reason
    assert ok.metrics["max_transactions_per_minute"] == 90.0
    paths = {artifact.path for artifact in ok.artifacts}
    assert "artifacts/h1/good/work/results-fake/report.md" in paths
    assert "artifacts/h1/good/work/fmbench.log" in paths
    assert "artifacts/h1/good/bootstrap/output.log" in paths
    good_dir = remote_root / "benchmarks/good"
    assert (good_dir / "config/variant.yml").read_text() == local_config.read_text()
    argv = (good_dir / "work/argv.txt").read_text().split()
    assert argv == [
        "--config-file", "../config/variant.yml", "--local-mode", "yes",
        "--write-bucket", "placeholder", "--tmp-dir", "/tmp",
        "-A", "instance_type=g6e.2xlarge",
    ]  # fmt: skip
    assert no_report.status == "failure"
    assert "no results-*/report.md" in no_report.reason


def test_an_fmbench_benchmark_past_its_timeout_gets_fmbenchs_cleanup_step(
    sshd, make_spec, tmp_path, remote_root
):
    config = tmp_path / "configs" / "deploys.yml"
    config.parent.mkdir()
    config.write_text(
        "general: {name: deploys}\nrun_steps:\n"
        "  2_deploy_model.ipynb: yes\n  6_cleanup.ipynb: no\n"
    )
    bench = BenchmarkSpec(
        name="hangs",
        driver="fmbench",
        timeout_seconds=2,
        config=str(config),
        config_is_local=True,
        fmbench_version="2.1.6",
    )
    venv = remote_root / "venvs" / venv_name(install_spec(bench))
    (venv / "bin").mkdir(parents=True)
    (venv / ".installed").write_text(install_spec(bench))
    (venv / "bin" / "python").symlink_to(shutil.which("python3"))
    fake = venv / "bin" / "fmbench"
    # Deploys and then hangs, unless only its cleanup step is on.
    fake.write_text(
        "#!/bin/bash\n"
        'if grep -q "6_cleanup.ipynb: yes" "$2"; then\n'
        '  echo "deleted endpoint deploys-ep"; exit 0\n'
        "fi\n"
        "echo deployed deploys-ep; exec sleep 300\n"
    )
    fake.chmod(0o755)

    [result] = run(make_spec({"h1": [bench]}), [sshd.host("h1")], tmp_path)

    assert result.status == "timeout"
    log = tmp_path / "artifacts/h1/hangs/fmbench-cleanup.log"
    assert log.read_text().strip() == "deleted endpoint deploys-ep"
    [cleanup] = events_of(tmp_path, "cleanup", "ok")
    assert cleanup["benchmark"] == "hangs"


def test_hosts_that_cannot_be_dialled_fail_without_holding_up_the_run(
    sshd, make_spec, command_bench, tmp_path
):
    spec = make_spec(
        {
            "missing": [command_bench("a", "true")],
            "bad-key": [command_bench("b", "true")],
            "fine": [command_bench("c", "true")],
        }
    )
    hosts = [sshd.host("bad-key", host_key="ssh-ed25519 AAAA!!"), sshd.host("fine")]
    missing, bad_key, fine = run(spec, hosts, tmp_path)

    assert "no such host" in missing.reason
    assert "host_key" in bad_key.reason
    assert (missing.status, bad_key.status, fine.status) == (
        "failure",
        "failure",
        "success",
    )
    assert (tmp_path / "results/missing/a.json").is_file()
