"""dataplane.md §10: when LOG lines from a namespace are lost."""

from __future__ import annotations

from pathlib import Path

from tortie.dataplane.kernel import log_lines_may_be_lost


def _links(tmp: Path, own: str, init: str) -> tuple[str, str]:
    (tmp / "own").symlink_to(own)
    (tmp / "init").symlink_to(init)
    return str(tmp / "own"), str(tmp / "init")


def test_initial_namespace_never_loses_lines(tmp_path: Path) -> None:
    own, init = _links(tmp_path, "net:[1]", "net:[1]")
    assert log_lines_may_be_lost(own, init, str(tmp_path / "missing")) is False


def test_other_namespace_depends_on_the_sysctl(tmp_path: Path) -> None:
    own, init = _links(tmp_path, "net:[2]", "net:[1]")
    sysctl = tmp_path / "nf_log_all_netns"
    sysctl.write_text("0\n")
    assert log_lines_may_be_lost(own, init, str(sysctl)) is True
    sysctl.write_text("1\n")
    assert log_lines_may_be_lost(own, init, str(sysctl)) is False
    assert log_lines_may_be_lost(own, init, str(tmp_path / "unreadable")) is True
