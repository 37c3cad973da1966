"""`python -m fmbench_orch.orchestrator` is `fmbench-orch`."""

from fmbench_orch.orchestrator.cli import main

main()
