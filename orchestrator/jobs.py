"""Detached jobs on a host: start one, follow its log, reattach to it, kill it.

A job is a directory on the host:

- `run.sh`: what to run (the driver's script), started in the job directory;
- `job.sh`: the wrapper that records `pid`, runs `run.sh`, records `exit_code`;
- `pid`: `<pid> <start ticks> <start epoch>`, written from inside the job's
  own session, so the pid is also its process group id; the start ticks
  (field 22 of /proc/<pid>/stat) tell a reused pid from ours;
- `exit_code`: `run.sh`'s status, written to a temporary name and renamed;
- `output.log`: everything `run.sh` printed.

The job runs under `setsid` with every stdio redirected, so it outlives the
SSH session that started it and a dropped connection only costs a reattach.
"""

from __future__ import annotations

import io
import logging
import shlex
import tarfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Literal

from paramiko import Channel

from fmbench_orch.orchestrator.redaction import StreamMask, redact
from fmbench_orch.orchestrator.remote import READ_CHUNK, RemoteHost
from fmbench_orch.orchestrator.ssh_errors import ConnectionLost, RemoteError

log = logging.getLogger(__name__)

# How often the remote watcher looks for the job's end (a read of one /proc
# file, no fork), and how often `tail` then looks for the watcher's: the runner
# notices an exit within about their sum plus a round trip.
FOLLOW_POLL_S = 0.1
TAIL_POLL_S = 0.1
# How long `start` waits for the wrapper to write its pid file (a fork + exec),
# looking every PID_POLL_S.
PID_WAIT_S = 10.0
PID_POLL_S = 0.05
# Between SIGTERM and SIGKILL: lets a benchmark flush logs and stop its workers.
KILL_GRACE_S = 10.0
# After SIGKILL the group must be gone this soon, or the kill is reported failed.
KILL_VERIFY_S = 5.0
# How often the kill looks whether the group is gone (a /proc scan).
KILL_POLL_S = 0.1
# Margin on top of the remote waits for the SSH round trips of one command.
COMMAND_MARGIN_S = 30.0
# A follower silent this long gets its connection probed (a dead TCP peer
# sends nothing, and paramiko's keepalives cannot notice that on their own).
LIVENESS_AFTER_S = 60.0

LOG_NAME = "output.log"
RUN_SCRIPT = "run.sh"
WRAPPER_SCRIPT = "job.sh"

# `nap S` (put into the scripts below as {nap}, before `.format` sees its
# braces): wait S seconds without a fork — `read -t` on a pipe this shell holds
# both ends of, so nothing ever arrives. A loop of 64 jobs polling with
# `/bin/sleep` costs ~0.4 of a core in fork+exec alone; where /dev/fd is
# missing it falls back to sleep.
_NAP = """\
if exec {nap_fd}<> <(:); then nap() { read -r -t "$1" -u "$nap_fd" _; }
else nap() { sleep "$1"; }; fi 2>/dev/null
"""

# Field 22 of /proc/<pid>/stat is the 20th after the `)` that ends the command.
_WRAPPER = """\
# fmbench-orch: runs run.sh in this session and records how it ended.
read -r stat < /proc/$$/stat
set -- ${stat##*) }
echo "$$ ${20} $(date +%s)" > pid.tmp && mv -f pid.tmp pid
bash ./run.sh
echo $? > exit_code.tmp && mv -f exit_code.tmp exit_code
"""

# stdin carries a tar of the job's files (the scripts, the driver's uploads).
_START = """\
rm -rf -- {dir} && mkdir -p -- {dir}/work && cd {dir} || exit 2
tar --no-same-owner -xf - || exit 2
setsid bash ./job.sh </dev/null >output.log 2>&1 &
{nap}i=0
while [ ! -s pid ] && [ "$i" -lt {tries} ]; do nap {poll}; i=$((i+1)); done
cat pid
"""

_PROBE = """\
cd {dir} 2>/dev/null || exit 0
[ -s exit_code ] && echo "exit $(cat exit_code)"
[ -s pid ] || exit 0
read -r p t e < pid
echo "pid $p $t $e"
read -r s 2>/dev/null < "/proc/$p/stat" || exit 0
set -- ${{s##*) }}
[ "$1" != Z ] && [ "${{20}}" = "$t" ] && echo alive
exit 0
"""

# The watcher ends when the job does (zombie-aware: not every init reaps);
# `tail --pid` follows it, so the stream ends after the last byte is sent.
# Limitation: needs GNU tail (`--pid`, `-s`), as on Ubuntu and Amazon Linux —
# matters on busybox images, where the follower would fail to start.
_FOLLOW = """\
{nap}cd {dir} || exit 2
{{ while [ ! -e exit_code ]; do
    read -r s 2>/dev/null < /proc/{pid}/stat || break
    set -- ${{s##*) }}
    [ "$1" != Z ] && [ "${{20}}" = {ticks} ] || break
    nap {poll}
  done; }} &
tail -c +{start} -s {tail_poll} --pid=$! -f output.log
echo "exit_code=$(cat exit_code 2>/dev/null)" >&2
"""

# Limitation: only the job's process group is killed; a process that moved to a
# session of its own (a daemon, a docker container) survives — matters for
# drivers that start such things, which is why `fmbench` stops its containers.
_KILL_GROUP = """\
{nap}pg={pgid}
# No process left in the group: nothing to scan /proc for.
kill -0 -- -"$pg" 2>/dev/null || {{ echo none; exit 0; }}
alive() {{
  for f in /proc/[0-9]*/stat; do
    read -r s 2>/dev/null < "$f" || continue
    set -- ${{s##*) }}
    [ "$3" = "$pg" ] && [ "$1" != Z ] && return 0
  done
  return 1
}}
alive || {{ echo none; exit 0; }}
kill -TERM -- -"$pg" 2>/dev/null
i=0; while alive && [ "$i" -lt {grace} ]; do nap {poll}; i=$((i+1)); done
alive && kill -KILL -- -"$pg" 2>/dev/null && echo killed
i=0; while alive && [ "$i" -lt {verify} ]; do nap {poll}; i=$((i+1)); done
alive && {{ echo survived; exit 3; }}
echo gone
"""


def bash(script: str) -> str:
    """A command line that runs `script` with bash whatever the login shell is."""
    return f"bash -c {shlex.quote(script)}"


@dataclass(frozen=True)
class JobHandle:
    """Enough to find a running job again: its directory, pid and start."""

    directory: str
    pid: int
    start_ticks: int
    started_epoch: int


@dataclass(frozen=True)
class JobState:
    handle: JobHandle | None
    exit_code: int | None
    alive: bool

    @property
    def started(self) -> bool:
        return self.handle is not None


@dataclass(frozen=True)
class FollowEnd:
    reason: Literal["ended", "deadline", "stopped"]
    exit_code: int | None = None


def start(
    remote: RemoteHost,
    directory: str,
    run_script: str,
    phase: str,
    files: Sequence[tuple[Path, str]] = (),
) -> JobHandle:
    """Make the job directory afresh and start the job detached in it.

    `files` (local path, path inside the directory) travel with the scripts in
    one small tar on the same command's stdin; return once the pid is known.
    """
    tries = int(PID_WAIT_S / PID_POLL_S)
    script = _START.format(
        nap=_NAP, dir=shlex.quote(directory), tries=tries, poll=PID_POLL_S
    )
    timeout = PID_WAIT_S + COMMAND_MARGIN_S
    payload = _job_archive(run_script, files)
    result = remote.exec(bash(script), phase=phase, timeout=timeout, stdin=payload)
    handle = _parse_pid(directory, result.output.strip())
    if not result.ok or handle is None:
        raise RemoteError(
            remote.name,
            phase,
            f"the job did not start: {result.output.strip()!r}",
            "Check that bash, setsid and tar exist and the disk has room",
        )
    log.debug("%s: started %s as pid %d", remote.name, directory, handle.pid)
    return handle


def _job_archive(run_script: str, files: Sequence[tuple[Path, str]]) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, text in ((WRAPPER_SCRIPT, _WRAPPER), (RUN_SCRIPT, run_script)):
            member = tarfile.TarInfo(name)
            data = text.encode()
            member.size, member.mode, member.mtime = len(data), 0o644, time.time()
            archive.addfile(member, io.BytesIO(data))
        for local, inside in files:
            archive.add(local, arcname=inside, recursive=True)
    return buffer.getvalue()


def probe(remote: RemoteHost, directory: str, phase: str) -> JobState:
    """What the host says about a job: started?, exit code?, still running?"""
    result = remote.exec(bash(_PROBE.format(dir=shlex.quote(directory))), phase=phase)
    handle, exit_code, alive = None, None, False
    for line in result.output.splitlines():
        word, _, rest = line.partition(" ")
        if word == "exit" and rest.strip().lstrip("-").isdigit():
            exit_code = int(rest)
        elif word == "pid":
            handle = _parse_pid(directory, rest)
        elif word == "alive":
            alive = True
    return JobState(handle, exit_code, alive and exit_code is None)


def follow(
    remote: RemoteHost,
    handle: JobHandle,
    log_path: Path,
    *,
    deadline: float,
    stop: threading.Event | None,
    on_line: Callable[[str], None] | None = None,
) -> FollowEnd:
    """Append the job's output to `log_path` until it ends, `deadline` or `stop`.

    Resumes after the bytes already in `log_path`. Raises `ConnectionLost`
    when the connection drops; the job keeps running and can be followed again.
    """
    log_path.parent.mkdir(parents=True, exist_ok=True)
    offset = log_path.stat().st_size if log_path.exists() else 0
    script = _FOLLOW.format(
        nap=_NAP,
        dir=shlex.quote(handle.directory),
        pid=handle.pid,
        ticks=handle.start_ticks,
        poll=FOLLOW_POLL_S,
        tail_poll=TAIL_POLL_S,
        start=offset + 1,
    )
    channel = remote.open_command(bash(script), phase="running", combine_stderr=False)
    try:
        with log_path.open("ab") as sink:
            end = _stream(remote, channel, sink, deadline, stop, on_line)
    finally:
        channel.close()
    return end


def _stream(
    remote: RemoteHost,
    channel: Channel,
    sink: BinaryIO,
    deadline: float,
    stop: threading.Event | None,
    on_line: Callable[[str], None] | None,
) -> FollowEnd:
    partial = b""
    heard = time.monotonic()
    mask = StreamMask()
    while True:
        try:
            data = channel.recv(READ_CHUNK)
        except TimeoutError:
            now = time.monotonic()
            if now >= deadline:
                return FollowEnd("deadline")
            if stop is not None and stop.is_set():
                return FollowEnd("stopped")
            if now - heard > LIVENESS_AFTER_S:
                if not remote.responds():
                    raise ConnectionLost(
                        remote.name,
                        "running",
                        "the connection stopped answering",
                        "The runner reconnects and reattaches to the job",
                    ) from None
                heard = now
            continue
        if not data:
            break
        heard = time.monotonic()
        sink.write(mask.feed(data))
        sink.flush()
        lines = (partial + data).split(b"\n")
        partial = lines.pop()
        if on_line is not None and lines:
            on_line(redact(lines[-1].decode(errors="replace").rstrip("\r")))
    sink.write(mask.flush())
    remote.exit_status(channel, phase="running")
    return FollowEnd("ended", _exit_code_from(_drain_stderr(channel)))


def terminate(remote: RemoteHost, handle: JobHandle, phase: str) -> str:
    """TERM the job's process group, KILL it after the grace.

    Returns `none` (nothing was left running), `gone` (killed and verified
    gone) or `survived` (something outlived SIGKILL).
    """
    script = _KILL_GROUP.format(
        nap=_NAP,
        pgid=handle.pid,
        grace=int(KILL_GRACE_S / KILL_POLL_S),
        verify=int(KILL_VERIFY_S / KILL_POLL_S),
        poll=KILL_POLL_S,
    )
    timeout = KILL_GRACE_S + KILL_VERIFY_S + COMMAND_MARGIN_S
    result = remote.exec(bash(script), phase=phase, timeout=timeout)
    lines = result.output.strip().splitlines()
    outcome = lines[-1] if result.ok and lines else "survived"
    log.debug("%s: kill of group %d: %s", remote.name, handle.pid, outcome)
    return outcome if outcome in ("none", "gone") else "survived"


def forget(remote: RemoteHost, directory: str, phase: str) -> None:
    """Drop a stopped job's pid so that `resume` starts it afresh."""
    q = shlex.quote(directory)
    remote.exec(bash(f"rm -f -- {q}/pid {q}/exit_code"), phase=phase)


def _parse_pid(directory: str, text: str) -> JobHandle | None:
    fields = text.split()
    if len(fields) != 3 or not all(field.isdigit() for field in fields):
        return None
    pid, ticks, epoch = (int(field) for field in fields)
    return JobHandle(directory, pid, ticks, epoch)


def _drain_stderr(channel: Channel) -> str:
    chunks = []
    while channel.recv_stderr_ready():
        chunks.append(channel.recv_stderr(READ_CHUNK))
    return b"".join(chunks).decode(errors="replace")


def _exit_code_from(stderr: str) -> int | None:
    for line in stderr.splitlines():
        if line.startswith("exit_code="):
            value = line.removeprefix("exit_code=").strip()
            if value.lstrip("-").isdigit():
                return int(value)
    return None
