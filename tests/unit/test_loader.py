"""Reading campaign files: environment values, shell quoting, relative paths."""

import subprocess
from pathlib import Path
from textwrap import dedent

import pytest

from fmbench_orch.models.benchmark import CommandBenchmark
from fmbench_orch.models.campaign import CampaignConfig
from fmbench_orch.models.errors import ConfigError
from fmbench_orch.models.loader import format_path, load_campaign, read_yaml


def write(directory: Path, text: str, name: str = "campaign.yml") -> Path:
    path = directory / name
    path.write_text(dedent(text))
    return path


def with_run(directory: Path, run: str, owner: str = "me") -> Path:
    """A one-host campaign whose benchmark runs `run` (written as YAML text)."""
    return write(
        directory,
        f"""
        name: env
        owner: {owner}
        hosts:
          - instance_type: g6e.2xlarge
            benchmarks:
              - driver: command
                run: {run}
        """,
    )


def run_command(loaded: CampaignConfig) -> str:
    benchmark = loaded.hosts[0].benchmarks[0]
    assert isinstance(benchmark, CommandBenchmark)
    return benchmark.run


# --- ${env:…} ------------------------------------------------------------------


def test_env_references_take_values_from_the_environment(tmp_path: Path) -> None:
    path = with_run(tmp_path, "'true'", owner="${env:TEAM}-perf")

    loaded = load_campaign(path, environ={"TEAM": "inference"})

    assert loaded.owner == "inference-perf"


def test_an_unset_variable_takes_its_default(tmp_path: Path) -> None:
    path = with_run(tmp_path, "'true'", owner="${env:TEAM:-nobody}")

    assert load_campaign(path, environ={}).owner == "nobody"


def test_a_set_variable_wins_over_its_default(tmp_path: Path) -> None:
    path = with_run(tmp_path, "'true'", owner="${env:TEAM:-nobody}")

    assert load_campaign(path, environ={"TEAM": "perf"}).owner == "perf"


def test_an_empty_default_is_allowed(tmp_path: Path) -> None:
    path = with_run(tmp_path, "'echo x${env:SUFFIX:-}'")

    assert run_command(load_campaign(path, environ={})) == "echo x''"


def test_a_doubled_dollar_keeps_the_reference_literally(tmp_path: Path) -> None:
    path = with_run(tmp_path, "'true'", owner="$${env:TEAM}")

    assert load_campaign(path, environ={"TEAM": "perf"}).owner == "${env:TEAM}"


def test_the_process_environment_is_used_when_none_is_given(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("FMBENCH_ORCH_TEST_OWNER", "from-env")
    path = with_run(tmp_path, "'true'", owner="${env:FMBENCH_ORCH_TEST_OWNER}")

    assert load_campaign(path).owner == "from-env"


def test_every_unset_variable_is_reported_with_its_field(tmp_path: Path) -> None:
    path = with_run(tmp_path, "'echo ${env:TOKEN}'", owner="${env:OWNER}")

    with pytest.raises(ConfigError) as caught:
        load_campaign(path, environ={})

    assert [(p.path, p.message[:33]) for p in caught.value.problems] == [
        ("owner", "environment variable OWNER is not"),
        ("hosts[0].benchmarks[0].run", "environment variable TOKEN is not"),
    ]


def test_values_outside_run_are_not_shell_quoted(tmp_path: Path) -> None:
    path = with_run(tmp_path, "'true'", owner="'${env:TEAM}'")

    assert load_campaign(path, environ={"TEAM": "a b; c"}).owner == "a b; c"


# --- shell quoting inside run --------------------------------------------------


def test_a_hostile_value_stays_one_argument_when_bash_runs_it(tmp_path: Path) -> None:
    workdir = tmp_path / "host"
    workdir.mkdir()
    (workdir / "victim").mkdir()
    hostile = "x; rm -rf victim; echo $HOME `id` $(id) 'quoted' \"dq\" \\"
    path = with_run(tmp_path, "'printf \"%s\\n\" ${env:ARG} > args.txt'")

    command = run_command(load_campaign(path, environ={"ARG": hostile}))
    subprocess.run(["bash", "-c", command], cwd=workdir, check=True, timeout=30)

    assert (workdir / "victim").is_dir()
    assert (workdir / "args.txt").read_text() == hostile + "\n"


def test_an_empty_value_is_still_one_argument(tmp_path: Path) -> None:
    workdir = tmp_path / "host"
    workdir.mkdir()
    path = with_run(tmp_path, "'printf \"[%s]\" ${env:ARG} a > args.txt'")

    command = run_command(load_campaign(path, environ={"ARG": ""}))
    subprocess.run(["bash", "-c", command], cwd=workdir, check=True, timeout=30)

    assert (workdir / "args.txt").read_text() == "[][a]"


# --- relative paths ---------------------------------------------------------------


def test_relative_paths_are_relative_to_the_campaign_file_not_the_cwd(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    campaign_dir = tmp_path / "campaigns"
    (campaign_dir / "files").mkdir(parents=True)
    (campaign_dir / "files" / "token.txt").write_text("secret\n")
    path = write(
        campaign_dir,
        """
        name: paths
        hosts:
          - instance_type: g6e.2xlarge
            upload_files: [{local: files/token.txt, remote: token.txt}]
            benchmarks: [{driver: command, run: "true"}]
        """,
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)

    loaded = load_campaign(Path("..") / "campaigns" / "campaign.yml", environ={})

    local = loaded.hosts[0].upload_files[0].local
    assert local.resolve() == (campaign_dir / "files" / "token.txt").resolve()
    assert local.is_absolute()
    assert path.exists()


def test_absolute_and_home_paths_are_kept(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "token.txt").write_text("secret\n")
    monkeypatch.setenv("HOME", str(home))
    path = write(
        tmp_path,
        f"""
        name: paths
        hosts:
          - instance_type: g6e.2xlarge
            upload_files:
              - {{local: {home / "token.txt"}, remote: a.txt}}
              - {{local: ~/token.txt, remote: b.txt}}
            benchmarks: [{{driver: command, run: "true"}}]
        """,
    )

    loaded = load_campaign(path, environ={})

    assert [u.local for u in loaded.hosts[0].upload_files] == [home / "token.txt"] * 2


def test_missing_files_can_be_left_unchecked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
        name: unchecked
        hosts:
          - instance_type: g6e.2xlarge
            upload_files: [{local: not-yet.txt, remote: x}]
            benchmarks: [{driver: command, run: "true"}]
        """,
    )

    loaded = load_campaign(path, environ={}, check_paths=False)

    assert loaded.hosts[0].upload_files[0].local == tmp_path / "not-yet.txt"


# --- lines ------------------------------------------------------------------------


def test_read_yaml_maps_every_field_path_to_its_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """\
        name: lines
        hosts:
          - instance_type: g6e.2xlarge
            benchmarks:
              - {driver: command, run: "true"}
        """,
    )

    document, lines = read_yaml(path)

    assert document["name"] == "lines"
    assert lines[("name",)] == 1
    assert lines[("hosts", 0, "instance_type")] == 3
    assert lines[("hosts", 0, "benchmarks", 0, "run")] == 5


def test_fields_merged_with_an_anchor_point_at_the_anchors_line(
    tmp_path: Path,
) -> None:
    path = write(
        tmp_path,
        """\
        name: merged
        hosts:
          - &base
            instance_type: g6e.2xlarge
            benchmarks: [{driver: command, run: "true"}]
          - <<: *base
            name: other
        """,
    )

    _, lines = read_yaml(path)

    assert lines[("hosts", 1, "name")] == 7
    assert lines[("hosts", 1, "instance_type")] == 4


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ((), ""),
        (("name",), "name"),
        (
            ("hosts", 1, "benchmarks", 0, "batch_sizes", 2),
            "hosts[1].benchmarks[0].batch_sizes[2]",
        ),
    ],
)
def test_field_paths_read_as_the_user_writes_them(
    path: tuple[str | int, ...], text: str
) -> None:
    assert format_path(path) == text
