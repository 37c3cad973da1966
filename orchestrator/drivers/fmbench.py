"""The `fmbench` driver: FMBench installed on the host, run with one config.

Bootstrap installs each FMBench version the host's benchmarks ask for into a
venv of its own under the run (`uv` when present, else the system
python3.12). A benchmark runs

    fmbench --config-file CONFIG --local-mode yes|no --write-bucket BUCKET
            --tmp-dir /tmp [--role-arn ARN] -A key=value ...

in its working directory. `--role-arn` names the stack's SageMaker execution
role when the campaign has one; its ARN is built on the host from the role's
name and the account and partition of the host's own instance profile, as the
metadata service reports them. FMBench writes no completion marker, so success is
exit status 0 AND a `results-*/report.md` newer than the benchmark's start;
results directories from an earlier attempt are renamed away first. Docker
containers the benchmark started are stopped after it ends or is killed, and
a benchmark killed at its timeout first gets FMBench's own cleanup step,
which deletes the endpoints its deploy step created outside our stack.
"""

from __future__ import annotations

import hashlib
import shlex
from collections.abc import Sequence
from pathlib import Path

from fmbench_orch.models.fmbench_results import summary_verdict
from fmbench_orch.models.spec import BenchmarkSpec
from fmbench_orch.orchestrator.drivers import (
    DriverError,
    Verdict,
    no_exit_code_verdict,
)

# FMBench installs ~240 packages (torch, transformers, ...): 10–20 min on a
# fresh host, after cloud-init has released the package locks.
BOOTSTRAP_TIMEOUT_S = 3600.0
# FMBench supports Python >= 3.12, < 3.13.
PYTHON_VERSION = "3.12"
# FMBench's read and write areas (/tmp/fmbench-read, /tmp/fmbench-write) live
# under it, and that is where campaigns upload datasets and the HF token.
TMP_DIR = "/tmp"
# `--local-mode yes` requires a bucket name; FMBench accepts this one.
PLACEHOLDER_BUCKET = "placeholder"
# FMBench's cleanup step alone: papermill's start-up plus the SageMaker
# delete calls, which return at once; longer means FMBench itself is stuck.
CLEANUP_STEP_TIMEOUT_S = 600
# Then `docker stop` of what the benchmark started (10 s per container, all
# at once), with room for a slow host.
STOP_CONTAINERS_TIMEOUT_S = 120
# The config FMBench's cleanup step runs with, and its log (harvested).
CLEANUP_CONFIG = "cleanup-config.yml"
CLEANUP_LOG = "fmbench-cleanup.log"
# The step FMBench's configs name for deleting what their deploy step made.
CLEANUP_STEP = "6_cleanup.ipynb"
# The metadata service answers within milliseconds on EC2; no answer in this
# long means the host has none (or its hop limit is too low).
IMDS_TIMEOUT_S = 5
# `--role-arn`'s value in the scripts: bash expands it to the ARN that
# `role_arn_lines` looked up first.
ROLE_ARN_WORD = "$role_arn"

_INSTALL_FUNCTION = """\
install_fmbench() {
  venv="$RUN_ROOT/venvs/$1"; spec="$2"
  installed=$(cat "$venv/.installed" 2>/dev/null || true)
  if [ -x "$venv/bin/fmbench" ] && [ "$installed" = "$spec" ]; then
    echo "FMBench already installed: $spec"; return 0
  fi
  rm -rf "$venv"
  if command -v uv >/dev/null 2>&1; then
    uv venv --python PYTHON "$venv"
    uv pip install --python "$venv/bin/python" "$spec"
  elif command -v pythonPYTHON >/dev/null 2>&1; then
    pythonPYTHON -m venv "$venv"
    "$venv/bin/python" -m pip install --upgrade pip
    "$venv/bin/python" -m pip install "$spec"
  else
    echo "FMBench needs Python PYTHON: install uv or pythonPYTHON on the host" \\
      "(or use an image that has one)" >&2
    return 1
  fi
  "$venv/bin/fmbench" --help >/dev/null
  printf '%s' "$spec" > "$venv/.installed"
  echo "FMBench installed: $spec"
}
""".replace("PYTHON", PYTHON_VERSION)

# Stops only containers that were not running before the benchmark started.
_STOP_NEW_CONTAINERS = """\
command -v docker >/dev/null 2>&1 || exit 0
[ -f docker_before ] || exit 0
d=docker; $d ps -q >/dev/null 2>&1 || d="sudo -n docker"
$d ps -q 2>/dev/null | sort > docker_after || exit 0
sort docker_before | comm -13 - docker_after | xargs -r $d stop
"""

_RECORD_CONTAINERS = """\
if command -v docker >/dev/null 2>&1; then
  { docker ps -q 2>/dev/null || sudo -n docker ps -q 2>/dev/null; } > ../docker_before
fi"""

# Run by the FMBench venv's python on the host: the benchmark's config (path,
# https:// or s3://) with every step off but the cleanup step. FMBench fills
# `{region}` and friends into the raw text before parsing it as YAML, so the
# steps are switched line by line rather than through a YAML round trip.
_ONLY_CLEANUP_STEP = """\
import re, sys
source = sys.argv[1]
if source.startswith(("https://", "http://")):
    import urllib.request
    with urllib.request.urlopen(source, timeout=60) as response:
        text = response.read().decode()
elif source.startswith("s3://"):
    import boto3
    bucket, _, key = source[len("s3://"):].partition("/")
    body = boto3.client("s3").get_object(Bucket=bucket, Key=key)["Body"]
    text = body.read().decode()
else:
    with open(source) as config:
        text = config.read()
step = re.compile(r"^([ \\t]+)(\\d+_[\\w-]+\\.ipynb)([ \\t]*:[ \\t]*)[^\\s#]+", re.M)
def switch(found):
    keep = "yes" if found.group(2) == "CLEANUP_STEP" else "no"
    return found.group(1) + found.group(2) + found.group(3) + keep
edited = step.sub(switch, text)
if not re.search(r"^[ \\t]+CLEANUP_STEP[ \\t]*:[ \\t]*yes", edited, re.M):
    sys.exit("the config has no CLEANUP_STEP step under run_steps")
sys.stdout.write(edited)
""".replace("CLEANUP_STEP", CLEANUP_STEP)

# Run by the FMBench venv's python on the host: prints the ARN of the role
# named in argv[1], in the account and partition of the host's instance
# profile (IMDSv2; AWS_EC2_METADATA_SERVICE_ENDPOINT overrides the address, as
# it does for the AWS SDKs). The stack creates both roles at IAM's default
# path, so the two ARNs differ only in the name.
# Limitation: the ARN is rebuilt on the host rather than read from the stack's
# `execution_role_arn` output, because `Host` carries no stack outputs — it
# would matter if the execution role ever moved off the default path or out of
# the hosts' account.
_EXECUTION_ROLE_ARN = """\
import json, os, sys, urllib.request
imds = os.environ.get("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://169.254.169.254")
imds = imds.rstrip("/") + "/latest"
def ask(path, method="GET", **headers):
    request = urllib.request.Request(imds + path, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=IMDS_TIMEOUT_S) as response:
        return response.read().decode()
try:
    token = ask("/api/token", "PUT", **{"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    info = json.loads(ask("/meta-data/iam/info", **{"X-aws-ec2-metadata-token": token}))
    profile = info["InstanceProfileArn"]
except (OSError, ValueError, KeyError) as error:
    sys.exit(f"cannot read this host's instance profile from the EC2 metadata "
             f"service ({error}); FMBench needs it for --role-arn: check that the "
             f"host is the stack's EC2 instance with its instance profile")
print(profile.split(":instance-profile/")[0] + ":role/" + sys.argv[1])
""".replace("IMDS_TIMEOUT_S", str(IMDS_TIMEOUT_S))

_RENAME_STALE_RESULTS = """\
for d in results-*; do [ -e "$d" ] && mv -- "$d" "stale-$d.$(date +%s)"; done"""


def install_spec(benchmark: BenchmarkSpec) -> str:
    """What pip installs: a git repository at a ref, a pinned version, or latest."""
    if benchmark.fmbench_repo:
        ref = f"@{benchmark.fmbench_ref}" if benchmark.fmbench_ref else ""
        return f"git+{benchmark.fmbench_repo}{ref}"
    if benchmark.fmbench_version:
        return f"fmbench=={benchmark.fmbench_version}"
    return "fmbench"


def venv_name(spec: str) -> str:
    return "fmbench-" + hashlib.sha256(spec.encode()).hexdigest()[:12]


def config_argument(benchmark: BenchmarkSpec) -> str:
    """`--config-file`'s value as seen from the working directory."""
    if not benchmark.config:
        raise DriverError(
            f"benchmark {benchmark.name} uses the fmbench driver but names no "
            "config; add `config:` to the campaign"
        )
    if benchmark.config_is_local:
        return f"../config/{Path(benchmark.config).name}"
    return benchmark.config


def command_line(
    benchmark: BenchmarkSpec, fmbench: str, role_arn: str = ROLE_ARN_WORD
) -> list[str]:
    """The FMBench invocation as argv (`fmbench` is the executable's path).

    `--role-arn role_arn` comes with an execution role only; by default the
    word the scripts expand.
    """
    if not benchmark.local_mode and not benchmark.write_bucket:
        raise DriverError(
            f"benchmark {benchmark.name} runs FMBench with local_mode off, which "
            "needs a write_bucket; set one or turn local_mode on"
        )
    argv = [
        fmbench,
        "--config-file",
        config_argument(benchmark),
        "--local-mode",
        "yes" if benchmark.local_mode else "no",
        "--write-bucket",
        benchmark.write_bucket or PLACEHOLDER_BUCKET,
        "--tmp-dir",
        TMP_DIR,
    ]
    if benchmark.execution_role:
        argv += ["--role-arn", role_arn]
    for key, value in benchmark.args.items():
        argv += ["-A", f"{key}={value}"]
    return argv


def shell_words(argv: list[str]) -> list[str]:
    """`argv` quoted for bash; the executable and the role's ARN left to expand."""
    return [
        f'"{word}"' if index == 0 or word == ROLE_ARN_WORD else shlex.quote(word)
        for index, word in enumerate(argv)
    ]


def role_arn_lines(
    benchmark: BenchmarkSpec, python: str, then: str, stderr: str = ""
) -> list[str]:
    """Bash that sets the role-ARN variable and goes on with `then` (`|| exit 1`,
    `&& <command>`); `python` is the FMBench venv's, `stderr` a redirection of
    the lookup's complaint. Nothing without an execution role.
    """
    if not benchmark.execution_role:
        return []
    variable = ROLE_ARN_WORD.removeprefix("$")
    lookup = [f'"{python}"', "-", shlex.quote(benchmark.execution_role)]
    lookup += [stderr] if stderr else []
    return [
        f"{variable}=$({' '.join(lookup)} <<'FMBENCH_ORCH_PY'",
        _EXECUTION_ROLE_ARN.rstrip("\n"),
        "FMBENCH_ORCH_PY",
        f") {then}",
    ]


def cleanup_step_script(benchmark: BenchmarkSpec) -> str:
    """Bash, run in the benchmark directory: FMBench with its cleanup step only.

    Same flags and `-A` values as the benchmark, so the step finds the
    endpoints the killed run recorded. Fails (status 1, one line on stderr)
    when the step did; prints nothing when FMBench was never installed.
    """
    venv = f"$RUN_ROOT/venvs/{venv_name(install_spec(benchmark))}"
    argv = command_line(benchmark, f"{venv}/bin/fmbench")
    argv[2] = CLEANUP_CONFIG
    words = shell_words(argv)
    config = shlex.quote(config_argument(benchmark))
    timeout = f"timeout -k 10 {CLEANUP_STEP_TIMEOUT_S}"
    return "\n".join(
        [
            "RUN_ROOT=$(cd ../.. && pwd)",
            f'if [ -x "{venv}/bin/fmbench" ] && cd work; then',
            f'  if "{venv}/bin/python" - {config} > {CLEANUP_CONFIG} \\',
            f"      2> ../{CLEANUP_LOG} <<'FMBENCH_ORCH_PY'",
            _ONLY_CLEANUP_STEP.rstrip("\n"),
            "FMBENCH_ORCH_PY",
            "  then",
            *role_arn_lines(
                benchmark, f"{venv}/bin/python", "&& \\", f"2>> ../{CLEANUP_LOG}"
            ),
            f"    {timeout} {' '.join(words)} >> ../{CLEANUP_LOG} 2>&1",
            "    status=$?",
            "  else",
            "    status=$?",
            "  fi",
            "  cd ..",
            '  if [ "$status" -ne 0 ]; then',
            f"    echo \"FMBench's cleanup step failed (status $status); see "
            f'{CLEANUP_LOG}" >&2',
            "    cleanup_failed=1",
            "  fi",
            "fi",
        ]
    )


class FmbenchDriver:
    """Driver (see `drivers.Driver`) for FMBench."""

    name = "fmbench"
    bootstrap_timeout_s = BOOTSTRAP_TIMEOUT_S
    cleanup_timeout_s = CLEANUP_STEP_TIMEOUT_S + STOP_CONTAINERS_TIMEOUT_S
    harvest_bootstrap_log = True

    def bootstrap_script(self, benchmarks: Sequence[BenchmarkSpec]) -> str:
        specs = sorted({install_spec(benchmark) for benchmark in benchmarks})
        if not specs:
            return ""
        lines = [
            "set -eu",
            "RUN_ROOT=$(cd .. && pwd)",
            'export PATH="$HOME/.local/bin:$HOME/.cargo/bin:$PATH"',
            _INSTALL_FUNCTION,
        ]
        lines += [f"install_fmbench {venv_name(s)} {shlex.quote(s)}" for s in specs]
        return "\n".join(lines) + "\n"

    def run_script(self, benchmark: BenchmarkSpec, run_id: str) -> str:
        venv = venv_name(install_spec(benchmark))
        argv = command_line(benchmark, f"$RUN_ROOT/venvs/{venv}/bin/fmbench")
        words = shell_words(argv)
        return "\n".join(
            [
                "cd work || exit 1",
                "RUN_ROOT=$(cd ../../.. && pwd)",
                _RENAME_STALE_RESULTS,
                _RECORD_CONTAINERS,
                *role_arn_lines(
                    benchmark, f"$RUN_ROOT/venvs/{venv}/bin/python", "|| exit 1"
                ),
                "exec " + " ".join(words),
                "",
            ]
        )

    def uploads(self, benchmark: BenchmarkSpec) -> list[tuple[Path, str]]:
        if benchmark.config and benchmark.config_is_local:
            config = Path(benchmark.config)
            return [(config, f"config/{config.name}")]
        return []

    def harvest_patterns(self, benchmark: BenchmarkSpec) -> list[str]:
        return ["output.log", "work/results-*", "work/fmbench.log", CLEANUP_LOG]

    def check_script(self, benchmark: BenchmarkSpec) -> str | None:
        # `pid` is written as the benchmark starts: anything older is stale.
        return (
            "find work -mindepth 2 -maxdepth 2 -path 'work/results-*/report.md' "
            "-newer pid -print"
        )

    def cleanup_script(self, benchmark: BenchmarkSpec, timed_out: bool) -> str | None:
        # Limitation: a run the operator stops skips FMBench's cleanup step (it
        # can take minutes, and a stop must stay quick) — endpoints a deploy
        # step made then outlive the run; `reap` finds the tagged ones.
        if not timed_out:
            return _STOP_NEW_CONTAINERS
        # The stop comes second: FMBench's step may need a container it started.
        return "\n".join(
            [
                cleanup_step_script(benchmark),
                f"(\n{_STOP_NEW_CONTAINERS})",
                "exit ${cleanup_failed:-0}",
                "",
            ]
        )

    def judge(
        self,
        benchmark: BenchmarkSpec,
        exit_code: int | None,
        check_output: str,
        artifacts: Path,
    ) -> Verdict:
        if exit_code is None:
            return no_exit_code_verdict()
        if exit_code != 0:
            return Verdict(
                "failure",
                f"FMBench exited with status {exit_code} (a step failed; see "
                "work/fmbench.log)",
            )
        reports = [line for line in check_output.splitlines() if line.strip()]
        if not reports:
            return Verdict(
                "failure",
                "FMBench exited with status 0 but wrote no results-*/report.md "
                "during this run",
            )
        results_dir = artifacts / Path(reports[0]).parent
        return Verdict(*summary_verdict(results_dir))
