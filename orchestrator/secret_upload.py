"""Secrets onto a host: read where the campaign says, written 0600, shown nowhere.

A secret's value is read at upload time — from the environment variable or
the file the campaign names — never earlier, so no spec, stack record,
manifest, event or report can hold it. It travels on the stdin of one short
remote command that writes it under `umask 077` to a temporary name and
moves it into place whole; the command line carries only the target path.
Writing through the shell, not SFTP, puts the file where the host's own
commands look (the local provider's SFTP is rooted at the host directory).
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from pathlib import Path

from fmbench_orch.models.spec import UploadSpec
from fmbench_orch.orchestrator import redaction
from fmbench_orch.orchestrator.jobs import bash
from fmbench_orch.orchestrator.remote import RemoteHost
from fmbench_orch.orchestrator.ssh_errors import RemoteError

# A secret travels in memory on one command's stdin; tokens and key bundles
# are a few KiB, so a file past a mebibyte is the wrong file.
MAX_SECRET_BYTES = 1 << 20

# `$1` is the target. The partial file is made 0600 by the umask before a
# byte is written, and replaces any older copy (whatever its mode) in one step.
_WRITE = """\
umask 077
target="$1"; partial="$target.partial.$$"
mkdir -p -- "$(dirname -- "$target")" || exit 1
cat > "$partial" && chmod 600 "$partial" && mv -f -- "$partial" "$target" || {
  rm -f -- "$partial"; exit 1
}
"""


def writes_itself(item: UploadSpec) -> bool:
    """Whether `upload_secret` (rather than an SFTP or tar copy) moves `item`."""
    if item.env is not None:
        return True
    return item.secret and item.local is not None and not item.local.is_dir()


def secret_value(
    item: UploadSpec, host: str, environ: Mapping[str, str] | None = None
) -> bytes:
    """Read the secret now and have it redacted from every later log record."""
    environ = os.environ if environ is None else environ
    if item.env is not None:
        text = environ.get(item.env, "")
        if not text:
            raise RemoteError(
                host,
                "upload",
                f"environment variable {item.env} is not set or empty",
                f"Export {item.env} and resume the run",
            )
        value = text.encode()
    else:
        value = _read_file(item.local, host)
    redaction.remember(value.decode(errors="replace"))
    return value


# Limitation: only EC2 hosts are destroyed, so on static hosts and with the
# local provider (this machine) the 0600 file outlives the run — matters on a
# shared machine, where the user should remove it after the campaign.
def upload_secret(
    remote: RemoteHost, item: UploadSpec, target: str, phase: str
) -> None:
    """Write the secret to `target` on the host as a 0600 file."""
    value = secret_value(item, remote.name)
    command = bash(_WRITE) + " fmbench-secret " + shlex.quote(target)
    result = remote.exec(command, phase=phase, stdin=value)
    if not result.ok:
        raise RemoteError(
            remote.name,
            phase,
            f"writing the secret {target} failed: {redaction.redact(result.output)}",
            "Check that the host's user may write there and the disk has room",
        )


def _read_file(path: Path | None, host: str) -> bytes:
    assert path is not None  # UploadSpec holds local or env
    try:
        size = path.stat().st_size
        if size > MAX_SECRET_BYTES:
            raise RemoteError(
                host,
                "upload",
                f"the secret file {path} has {size} bytes, more than a secret "
                f"({MAX_SECRET_BYTES})",
                "Point the campaign at the file that holds only the secret",
            )
        return path.read_bytes()
    except OSError as error:
        raise RemoteError(
            host,
            "upload",
            f"cannot read the secret file {path} ({error.strerror})",
            "Fix the path in the campaign or the file's permissions, then resume",
        ) from None
