"""Moving files to and from a host: uploads before a run, the harvest after it.

Single files go over SFTP (pipelined); directories go as one tar stream into a
remote `tar -x`, which costs one round trip instead of several per file. The
harvest is one remote `tar -c` read straight into `tarfile`, every member
checked by name and kind: hosts are untrusted, so absolute names, names that
climb out, links and device files are refused, and every file is checked
against a remote listing of sizes and hashed as it is written; known secret
values in it are overwritten byte for byte on the way (see
`redaction.StreamMask`).
"""

from __future__ import annotations

import hashlib
import io
import logging
import os
import posixpath
import shlex
import shutil
import tarfile
import time
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from paramiko import Channel

from fmbench_orch.models.results import Artifact
from fmbench_orch.models.spec import UploadSpec
from fmbench_orch.orchestrator.jobs import bash
from fmbench_orch.orchestrator.layout import remote_path
from fmbench_orch.orchestrator.redaction import StreamMask
from fmbench_orch.orchestrator.remote import READ_CHUNK, RemoteHost
from fmbench_orch.orchestrator.secret_upload import upload_secret, writes_itself
from fmbench_orch.orchestrator.ssh_errors import ConnectionLost, RemoteError

log = logging.getLogger(__name__)

# A transfer that moves no byte for this long is stalled (the host or the
# network is gone); progress of any size resets the clock.
TRANSFER_STALL_S = 120.0
# The whole of one upload or harvest; 4 h moves ~1 TB at typical EC2 speeds.
TRANSFER_DEADLINE_S = 4 * 3600.0
SECRET_FILE_MODE = 0o600
SECRET_DIR_MODE = 0o700
# Tar records and file data are read in pieces this large (fewer Python calls).
_TAR_READ = 1024 * 1024
# The buffer over the harvest's channel: several SSH windows' worth.
_CHANNEL_BUFFER = 4 * 1024 * 1024


@dataclass
class Harvest:
    artifacts: list[Artifact] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)
    written: dict[str, int] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    @property
    def total_bytes(self) -> int:
        return sum(artifact.size for artifact in self.artifacts)


def upload(
    remote: RemoteHost, uploads: list[UploadSpec], phase: str = "upload"
) -> None:
    """Put each upload at its remote path (relative paths: login directory)."""
    if not uploads:
        return
    targets = [remote_path(item.remote) for item in uploads]
    parents = {str(PurePosixPath(t).parent) for t in targets}
    _checked(remote, bash(f"mkdir -p -- {_words(sorted(parents))}"), phase)
    for item, target in zip(uploads, targets, strict=True):
        if writes_itself(item):
            upload_secret(remote, item, target, phase)
            continue
        shown = f"{target} (secret)" if item.secret else target
        if not item.local.exists():
            raise RemoteError(
                remote.name,
                phase,
                f"local file {item.local} does not exist",
                "Fix the upload's local path in the campaign",
            )
        started = time.monotonic()
        if item.local.is_dir():
            upload_tree(remote, item.local, target, secret=item.secret, phase=phase)
        else:
            upload_file(remote, item.local, target, secret=item.secret, phase=phase)
        log.debug(
            "%s: uploaded %s in %.2f s", remote.name, shown, time.monotonic() - started
        )


def upload_file(
    remote: RemoteHost, local: Path, target: str, *, secret: bool, phase: str
) -> None:
    """SFTP one file; a secret is made 0600 before any byte of it is written."""
    sftp = remote.sftp(phase)
    sftp.get_channel().settimeout(TRANSFER_STALL_S)
    size = local.stat().st_size
    with local.open("rb") as source, sftp.open(target, "wb") as out:
        out.chmod(SECRET_FILE_MODE if secret else local.stat().st_mode & 0o777)
        out.set_pipelined(True)
        while chunk := source.read(READ_CHUNK):
            out.write(chunk)
    written = sftp.stat(target).st_size
    if written != size:
        raise RemoteError(
            remote.name,
            phase,
            f"{target} has {written} bytes, expected {size}",
            "Check the host's free disk space and run again",
        )


def upload_tree(
    remote: RemoteHost, local: Path, target: str, *, secret: bool, phase: str
) -> None:
    """Stream a directory as tar into `target` (created if missing)."""
    q = shlex.quote(target)
    umask = "umask 077; " if secret else ""
    command = bash(f"{umask}mkdir -p -- {q} && tar -C {q} --no-same-owner -xf -")
    channel = remote.open_command(command, phase=phase, combine_stderr=True)
    channel.settimeout(TRANSFER_STALL_S)

    def owned_by_nobody(member: tarfile.TarInfo) -> tarfile.TarInfo:
        member.uid = member.gid = 0
        member.uname = member.gname = ""
        if secret:
            member.mode = SECRET_DIR_MODE if member.isdir() else SECRET_FILE_MODE
        return member

    output: list[bytes] = []
    try:
        with channel.makefile("wb") as stream:
            with tarfile.open(fileobj=stream, mode="w|") as archive:
                archive.add(local, arcname=".", filter=owned_by_nobody)
            stream.flush()
        channel.shutdown_write()
        deadline = time.monotonic() + TRANSFER_DEADLINE_S
        remote.read_until_eof(channel, output.append, phase=phase, deadline=deadline)
        status = remote.exit_status(channel, phase=phase)
    except (OSError, EOFError) as exc:
        raise _broken(
            remote, phase, f"streaming {local} to {target} failed: {exc}"
        ) from exc
    finally:
        channel.close()
    if status != 0:
        text = b"".join(output).decode(errors="replace").strip()
        raise RemoteError(
            remote.name,
            phase,
            f"tar into {target} failed: {text}",
            "Check the host's free disk space and permissions",
        )


def harvest(
    remote: RemoteHost,
    root: str,
    patterns: list[str],
    strip: str,
    dest: Path,
    run_dir: Path,
    phase: str = "harvest",
) -> Harvest:
    """Copy what `patterns` name under remote `root` into `dest` (made afresh).

    Patterns are relative to `root`; `*` is a glob, everything else literal.
    Member names lose the `strip` prefix on the way in.
    """
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    found = _select(patterns)
    listing = _list(remote, root, found, phase)
    report = Harvest()
    if not listing:
        return report
    command = bash(f'cd {shlex.quote(root)} && {found} && tar -cf - -- "$@"')
    channel = remote.open_command(command, phase=phase, combine_stderr=False)
    channel.settimeout(TRANSFER_STALL_S)
    try:
        with io.BufferedReader(_ChannelReader(channel), _CHANNEL_BUFFER) as stream:
            _extract(stream, strip, dest, run_dir, report)
        remote.exit_status(channel, phase=phase)
    except (OSError, EOFError, tarfile.TarError) as exc:
        raise _broken(remote, phase, f"the harvest stream broke: {exc}") from exc
    finally:
        channel.close()
    _verify(listing, strip, report)
    return report


def _select(patterns: list[str]) -> str:
    """Shell code that sets "$@" to the patterns' existing matches."""
    words = " ".join(_glob_word(pattern) for pattern in patterns if pattern)
    # `if`, not `&&`: a last pattern that matches nothing must not make the
    # loop's status non-zero, or the `&& tar` that follows never runs.
    return (
        f'set --; for p in {words}; do if [ -e "$p" ]; then set -- "$@" "$p"; fi; done'
    )


def _list(remote: RemoteHost, root: str, found: str, phase: str) -> dict[str, int]:
    script = (
        f"cd {shlex.quote(root)} 2>/dev/null || exit 0; {found}; "
        "[ $# -gt 0 ] || exit 0; find \"$@\" -type f -printf '%s %p\\0' 2>/dev/null"
    )
    output = _checked(remote, bash(script), phase)
    listing = {}
    for entry in output.split("\0"):
        size, _, name = entry.lstrip("\n").partition(" ")
        if size.isdigit() and name:
            listing[name] = int(size)
    return listing


class _ChannelReader(io.RawIOBase):
    """A channel as a raw stream whose every read empties paramiko's buffer.

    `channel.makefile` reads in the caller's small sizes, and each small read
    from paramiko's buffer moves everything behind it (up to the 2 MiB
    window); one `recv` of the whole buffer's size costs a single copy.
    """

    def __init__(self, channel: Channel) -> None:
        self._channel = channel

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        data = self._channel.recv(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _extract(stream, strip: str, dest: Path, run_dir: Path, report: Harvest) -> None:
    """Write the regular files of an untrusted tar stream under `dest`.

    `dest` starts empty and only directories and regular files are ever
    written to it (links, devices and fifos are refused), so a name that is
    relative and climbs nowhere once normalised cannot leave it: the lexical
    check is as safe as `tarfile.data_filter` without its per-file `lstat`s.
    """
    made: set[Path] = set()
    with tarfile.open(fileobj=stream, mode="r|", bufsize=_TAR_READ) as archive:
        for member in archive:
            name = member.name.removeprefix("./").removeprefix(strip)
            if member.isdir():
                continue
            if not member.isfile():
                report.refused.append(f"{name} (not a regular file)")
                continue
            problem = _unsafe(name)
            if problem:
                report.refused.append(f"{name} ({problem})")
                continue
            clean = posixpath.normpath(name)
            target = dest / clean
            digest = hashlib.sha256()
            size = 0
            try:
                if target.parent not in made:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    made.add(target.parent)
                out = target.open("wb")
            except OSError as exc:
                report.refused.append(f"{name} (cannot be written: {exc.strerror})")
                continue
            source = archive.extractfile(member)
            mask = StreamMask()
            with out:
                while chunk := source.read(_TAR_READ):
                    size += _write(out, digest, mask.feed(chunk))
                size += _write(out, digest, mask.flush())
            os.utime(target, (member.mtime, member.mtime))
            report.written[clean] = size
            relative = target.relative_to(run_dir).as_posix()
            report.artifacts.append(
                Artifact(path=relative, size=size, sha256=digest.hexdigest())
            )


def _write(out, digest, data: bytes) -> int:
    digest.update(data)
    out.write(data)
    return len(data)


def _unsafe(name: str) -> str | None:
    """Why a member name may not be written under the destination, if it may not."""
    if name.startswith("/"):
        return "absolute name"
    clean = posixpath.normpath(name)
    if clean in ("", ".") or clean == ".." or clean.startswith("../"):
        return "its name leaves the destination"
    return None


def _verify(listing: dict[str, int], strip: str, report: Harvest) -> None:
    got = report.written
    for name, size in sorted(listing.items()):
        local_name = name.removeprefix(strip)
        if local_name not in got:
            if not any(r.startswith(local_name + " ") for r in report.refused):
                report.problems.append(f"{local_name} is missing")
        elif got[local_name] != size:
            report.problems.append(
                f"{local_name} has {got[local_name]} bytes, the host listed {size}"
            )


def _broken(remote: RemoteHost, phase: str, cause: str) -> RemoteError:
    """A broken stream: `ConnectionLost` (worth a reconnect) if the link died."""
    if not remote.is_connected:
        return ConnectionLost(
            remote.name, phase, cause, "The runner reconnects and tries again"
        )
    return RemoteError(
        remote.name, phase, cause, "Check the host's disk and network, then retry"
    )


def _checked(remote: RemoteHost, command: str, phase: str) -> str:
    result = remote.exec(command, phase=phase)
    if not result.ok:
        raise RemoteError(
            remote.name,
            phase,
            f"`{command[:80]}` failed: {result.output.strip()}",
            "Check the host's disk and permissions",
        )
    return result.output


def _glob_word(pattern: str) -> str:
    return "*".join(shlex.quote(part) if part else "" for part in pattern.split("*"))


def _words(items: list[str]) -> str:
    return " ".join(shlex.quote(item) for item in items)
