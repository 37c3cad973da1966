"""The run's SSH key pair: ed25519, generated on the operator's machine.

The private key never leaves the run directory; hosts only ever see the
public half (authorized_keys, the EC2 key pair).
"""

from __future__ import annotations

import os
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

PRIVATE_KEY_NAME = "id_ed25519"


def create_run_key(directory: Path, comment: str) -> Path:
    """Write a new key pair under `directory`; return the private key's path."""
    directory.mkdir(parents=True, exist_ok=True)
    private_path = directory / PRIVATE_KEY_NAME
    key = Ed25519PrivateKey.generate()
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.OpenSSH,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
    )
    fd = os.open(private_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(private)
    private_path.with_suffix(".pub").write_bytes(
        public + b" " + comment.encode() + b"\n"
    )
    return private_path


def public_key_line(private_path: Path) -> str:
    return private_path.with_suffix(".pub").read_text().strip()
