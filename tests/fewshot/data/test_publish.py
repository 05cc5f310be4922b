"""publish_folder: a finished build replaces the old folder; a racing valid build is kept."""

import os

import pytest

from fewshot.atomic import publish_folder


def _build(path, text):
    path.mkdir()
    (path / "data.txt").write_text(text)
    return path


def test_replaces_an_old_folder_and_leaves_nothing_behind(tmp_path):
    folder = _build(tmp_path / "cache", "old")
    publish_folder(_build(tmp_path / ".cache.tmp-1", "new"), folder, lambda f: True)
    assert (folder / "data.txt").read_text() == "new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cache"]


def test_a_valid_folder_published_meanwhile_by_another_process_is_kept(tmp_path, monkeypatch):
    folder, tmp = tmp_path / "cache", _build(tmp_path / ".cache.tmp-1", "mine")
    real_rename = os.rename

    def racing_rename(src, dst):  # the other process renames its build in first
        if str(src) == str(tmp):
            _build(folder, "theirs")
        return real_rename(src, dst)

    monkeypatch.setattr(os, "rename", racing_rename)
    publish_folder(tmp, folder, lambda f: (f / "data.txt").read_text() == "theirs")
    assert (folder / "data.txt").read_text() == "theirs" and not tmp.exists()
    # the same race with an invalid result is an error, not silently kept
    tmp2 = _build(tmp_path / ".cache.tmp-2", "mine")
    monkeypatch.setattr(os, "rename", lambda s, d: (_ for _ in ()).throw(OSError("rename failed")))
    with pytest.raises(OSError):
        publish_folder(tmp2, tmp_path / "missing", lambda f: False)
