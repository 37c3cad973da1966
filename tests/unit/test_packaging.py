"""The installed package carries every code folder of the repository."""

from __future__ import annotations

import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ROOTS = {
    "models": "fmbench_orch.models",
    "orchestrator": "fmbench_orch.orchestrator",
    "infra": "fmbench_orch.infra",
}


def test_every_python_package_folder_is_listed_for_the_wheel():
    project = tomllib.loads((REPO / "pyproject.toml").read_text())
    listed = set(project["tool"]["setuptools"]["packages"])
    found = set()
    for folder, name in ROOTS.items():
        for init in (REPO / folder).rglob("__init__.py"):
            relative = init.parent.relative_to(REPO / folder)
            found.add(".".join([name, *relative.parts]))

    assert found - listed == set(), "add these to [tool.setuptools] packages"


def test_pulumi_runs_the_program_from_the_projects_virtualenv():
    import yaml

    settings = yaml.safe_load((REPO / "Pulumi.yaml").read_text())

    assert settings["main"] == "infra/"
    assert settings["stackConfigDir"] == "stacks"
    assert settings["runtime"]["options"]["virtualenv"] == ".venv"
