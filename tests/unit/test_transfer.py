"""The harvest's extraction: an untrusted tar stream never writes outside its folder."""

from __future__ import annotations

import hashlib
import io
import tarfile

from fmbench_orch.orchestrator.transfer import Harvest, _extract


def stream(*members: tuple[str, bytes | None, str]) -> io.BytesIO:
    """A tar stream of (name, content, kind) with kind file, symlink or fifo."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w") as archive:
        for name, content, kind in members:
            info = tarfile.TarInfo(name)
            if kind == "symlink":
                info.type, info.linkname = tarfile.SYMTYPE, content.decode()
                archive.addfile(info)
            elif kind == "fifo":
                info.type = tarfile.FIFOTYPE
                archive.addfile(info)
            else:
                info.size = len(content)
                archive.addfile(info, io.BytesIO(content))
    buffer.seek(0)
    return buffer


def test_files_are_written_under_the_destination_with_their_hashes(tmp_path):
    dest = tmp_path / "artifacts/h/b"
    report = Harvest()
    _extract(
        stream(("benchmarks/b/work/r.csv", b"a,b\n", "file")),
        "benchmarks/b/",
        dest,
        tmp_path,
        report,
    )
    [artifact] = report.artifacts
    assert artifact.path == "artifacts/h/b/work/r.csv"
    assert artifact.sha256 == hashlib.sha256(b"a,b\n").hexdigest()
    assert (dest / "work/r.csv").read_bytes() == b"a,b\n"


def test_names_that_climb_out_or_are_absolute_are_refused(tmp_path):
    dest = tmp_path / "artifacts/h/b"
    dest.mkdir(parents=True)
    report = Harvest()
    evil = stream(
        ("../../../../escaped.txt", b"x", "file"),
        ("/tmp/absolute-from-host.txt", b"x", "file"),
        ("link", b"/etc/passwd", "symlink"),
        ("fifo", None, "fifo"),
        ("fine.txt", b"ok", "file"),
    )
    _extract(evil, "", dest, tmp_path, report)
    assert [a.path for a in report.artifacts] == ["artifacts/h/b/fine.txt"]
    assert len(report.refused) == 4
    assert not (tmp_path / "escaped.txt").exists()
    assert not list(tmp_path.parent.glob("escaped.txt"))
    assert not (dest / "link").exists()


def test_a_name_that_climbs_after_normalising_is_refused_and_a_clash_is_no_crash(
    tmp_path,
):
    dest = tmp_path / "artifacts/h/b"
    dest.mkdir(parents=True)
    report = Harvest()
    _extract(
        stream(
            ("work/../../../up.txt", b"x", "file"),
            ("work/../fine.txt", b"ok", "file"),
            ("file", b"1", "file"),
            ("file/inside", b"2", "file"),
        ),
        "",
        dest,
        tmp_path,
        report,
    )
    assert sorted(a.path for a in report.artifacts) == [
        "artifacts/h/b/file",
        "artifacts/h/b/fine.txt",
    ]
    assert [r.split(" ")[0] for r in report.refused] == [
        "work/../../../up.txt",
        "file/inside",
    ]
    assert not (tmp_path / "artifacts/up.txt").exists()
