"""What a provisioner hands the runner: how to reach each host, nothing more."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Host:
    """One reachable machine, whichever provisioner made it.

    `host_key` is the server's public key as an OpenSSH line
    (`ssh-ed25519 AAAA…`); the runner refuses any other key.
    """

    name: str
    address: str
    port: int
    user: str
    key_file: Path
    host_key: str | None
    instance_type: str
    region: str
    instance_id: str | None = None

    @property
    def known_hosts_name(self) -> str:
        """The name OpenSSH and paramiko file this host under in known_hosts."""
        return self.address if self.port == 22 else f"[{self.address}]:{self.port}"
