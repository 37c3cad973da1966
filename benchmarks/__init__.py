"""Benchmarks of the orchestrator itself (`python -m benchmarks`, `make bench`).

Each section measures one cost next to the baseline it is judged against,
in the same process and the same minute, and prints Markdown tables:

1. `overhead` — a campaign of N local hosts whose benchmark sleeps: the
   wall time beyond the payload, split by phase, next to a plain SSH
   fan-out to the same kind of hosts and a model of the legacy design;
2. `harvest` — `transfer.harvest` against `ssh … tar c | tar x` on an
   OpenSSH sshd on 127.0.0.1;
3. `cli` — `fmbench-orch --help` and `validate` as fresh processes;
4. `config` — load, validate and compile large campaigns; the Pulumi
   program under mocks;
5. `memory` — peak resident memory of `run` and of its local-hosts daemon.

Everything runs on 127.0.0.1 and cleans up after itself.
"""
