"""`migrate`: turn a legacy fmbench-orchestrator campaign into a campaign file."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from fmbench_orch.models.legacy import LegacyText

LEGACY_INFRA_NAME = "infra.yml"
LEGACY_AMI_MAPPING_NAME = "ami_mapping.yml"


@click.command()
@click.argument("config", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "--infra",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"The legacy infra file, merged over CONFIG.  [default: "
    f"{LEGACY_INFRA_NAME} beside CONFIG]",
)
@click.option(
    "--ami-mapping",
    type=click.Path(path_type=Path, dir_okay=False),
    help=f"Region → AMI per alias.  [default: {LEGACY_AMI_MAPPING_NAME} beside CONFIG]",
)
@click.option(
    "--legacy-root",
    type=click.Path(path_type=Path, file_okay=False),
    help="The folder the legacy tool ran in: relative paths in the legacy files "
    "(and in --config-file) are relative to it.  [default: CONFIG's folder]",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The campaign file to write; its paths are made relative to its folder.",
)
@click.option(
    "--region",
    help="Value of {{region}} when the legacy aws.region does not give one.  "
    "[default: us-east-1]",
)
@click.option(
    "--config-file",
    help="Value of {{config_file}} (the legacy --fmbench-config-file).",
)
@click.option(
    "--write-bucket",
    help="Value of {{write_bucket}} (the legacy --write-bucket).",
)
@click.option("--force", is_flag=True, help="Overwrite output files that exist.")
def migrate(
    config: Path,
    infra: Path | None,
    ami_mapping: Path | None,
    legacy_root: Path | None,
    output: Path,
    region: str | None,
    config_file: str | None,
    write_bucket: str | None,
    force: bool,
) -> None:
    """Convert legacy config.yml + infra.yml + ami_mapping.yml into one campaign.

    Every legacy key is carried over or reported with the reason it was
    dropped; the notes go to stderr and into the new file's header.
    """
    from fmbench_orch.models.migrate import (
        MigrateOptions,
        migrate_legacy,
        render_campaign,
        static_output_path,
    )

    infra = infra or config.parent / LEGACY_INFRA_NAME
    ami_mapping = ami_mapping or config.parent / LEGACY_AMI_MAPPING_NAME
    static_output = static_output_path(output)
    _refuse_overwrite(output, force)

    options = MigrateOptions(
        output=output,
        legacy_root=legacy_root or config.parent,
        region=region,
        config_file=config_file,
        write_bucket=write_bucket,
    )
    sources = [config, infra, ami_mapping]
    migration = migrate_legacy(*(_read(path) for path in sources), options)

    writes = [(output, migration.campaign)]
    if migration.static_campaign is not None:
        _refuse_overwrite(static_output, force)
        writes.append((static_output, migration.static_campaign))
    for path, campaign in writes:
        path.parent.mkdir(parents=True, exist_ok=True)
        text = render_campaign(campaign, migration.notes, sources)
        path.write_text(text, encoding="utf-8")
        hosts = len(campaign["hosts"])
        click.echo(f"wrote {path} ({campaign['provider']}: {hosts} host(s))")
    for note in migration.notes:
        click.echo(f"note: {note}", err=True)
    written = " ".join(str(path) for path, _ in writes)
    click.echo(f"then check: fmbench-orch validate {written}", err=True)


def _read(path: Path) -> LegacyText:
    from fmbench_orch.models.errors import ConfigError, Problem
    from fmbench_orch.models.legacy import LegacyText

    try:
        return LegacyText(path, path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        problem = Problem(
            "",
            "the legacy file does not exist; give its path (see --infra, "
            "--ami-mapping) and rerun",
        )
    except (OSError, UnicodeDecodeError) as error:
        problem = Problem("", f"cannot read it as UTF-8 text ({error})")
    raise ConfigError(path, [problem])


def _refuse_overwrite(path: Path, force: bool) -> None:
    if path.exists() and not force:
        raise click.UsageError(
            f"{path} exists; pass --force to overwrite it, or choose another --output"
        )
