"""The results cache and the staged execution: what re-runs after an edit, corrupt and unwritable
entries, a cache hit that executes nothing, and a failed run that changes nothing."""

import json
import shutil
import warnings
from pathlib import Path

import pytest

from mftransformer.companion import cache, execute
from mftransformer.companion.params import CHAPTERS, load

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def checkout(tmp_path, monkeypatch):
    """A temporary copy of the package sources and chapter sources (what the key reads)."""
    monkeypatch.chdir(ROOT)  # parameter sets are read from the real checkout
    shutil.copytree(ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "notebooks", tmp_path / "notebooks")
    return tmp_path


def _keys(root, overrides=None):
    overrides = overrides or {}
    return {
        chapter: cache.chapter_key(
            root,
            load(chapter, "ci", overrides.get(chapter)),
            root / "notebooks" / f"{stem}.md",
        )
        for chapter, stem in CHAPTERS.items()
    }


def _changed(before, after):
    return sorted(c for c in before if before[c] != after[c])


def test_keys_are_stable(checkout):
    assert _keys(checkout) == _keys(checkout)


def test_editing_one_chapter_source_reruns_only_that_chapter(checkout):
    before = _keys(checkout)
    page = checkout / "notebooks" / "04-ntk.md"
    page.write_text(page.read_text() + "\nOne more sentence.\n")
    assert _changed(before, _keys(checkout)) == ["ntk"]


def test_changing_one_parameter_reruns_only_that_chapter(checkout):
    before = _keys(checkout)
    after = _keys(checkout, {"ntk": {"seed": 1}})
    assert _changed(before, after) == ["ntk"]


@pytest.mark.parametrize("module", ["solver/attention.py", "companion/figures.py"])
def test_changing_a_package_module_reruns_every_chapter(checkout, module):
    before = _keys(checkout)
    path = checkout / "src" / "mftransformer" / module
    path.write_text(path.read_text() + "\n# an edit\n")
    assert _changed(before, _keys(checkout)) == sorted(CHAPTERS)


def _entry_files(tmp_path):
    (tmp_path / "a.ipynb").write_text("{}")
    (tmp_path / "fig.png").write_bytes(b"\x89PNG")
    return {"01-forward.ipynb": tmp_path / "a.ipynb", "figures/ch1-x.png": tmp_path / "fig.png"}


def test_store_then_lookup_round_trip(tmp_path):
    root = tmp_path / "repo"
    cache.store(root, "k" * 64, _entry_files(tmp_path), {"timing": {"wall_s": 1.0}})
    found = cache.lookup(root, "k" * 64)
    assert sorted(found.files) == ["01-forward.ipynb", "figures/ch1-x.png"]
    assert found.files["figures/ch1-x.png"].read_bytes() == b"\x89PNG"
    assert found.info == {"timing": {"wall_s": 1.0}}
    assert not list(cache.cache_dir(root).glob(".*.tmp"))  # no temporary folder left


def test_a_corrupt_entry_is_discarded_with_a_warning(tmp_path):
    root = tmp_path / "repo"
    entry = cache.store(root, "c" * 64, _entry_files(tmp_path), {})
    (entry / "figures" / "ch1-x.png").write_bytes(b"changed")
    with pytest.warns(cache.CacheWarning, match="corrupt.*checksum mismatch"):
        assert cache.lookup(root, "c" * 64) is None
    assert not entry.exists()


def test_an_unwritable_cache_folder_warns_and_does_not_fail(tmp_path):
    root = tmp_path / "repo"
    folder = cache.cache_dir(root)
    folder.parent.mkdir(parents=True)
    folder.write_text("not a folder")  # root ignores permissions: a file blocks the folder
    with pytest.warns(cache.CacheWarning, match="cannot write"):
        assert cache.store(root, "w" * 64, _entry_files(tmp_path), {}) is None


class _Sentinel(Exception):
    pass


def test_a_cache_hit_executes_nothing_and_force_executes(checkout, monkeypatch):
    config = load("ntk", "ci")
    key = cache.chapter_key(checkout, config, checkout / "notebooks" / "04-ntk.md")
    files = {
        "04-ntk.ipynb": checkout / "page.ipynb",
        "04-ntk.checks.json": checkout / "checks.json",
        "figures/ch4-demo.png": checkout / "demo.png",
    }
    for path in files.values():
        path.write_text("cached bytes")
    cache.store(checkout, key, files, {"timing": {"wall_s": 12.5, "params_set": "ci"}})

    def refuse(*args, **kwargs):
        raise _Sentinel("executed")

    monkeypatch.setattr(execute, "_papermill", refuse)
    outcome = execute.execute(checkout, config)
    assert outcome.cached and outcome.wall_s == 12.5
    assert (checkout / "book" / "chapters" / "04-ntk.ipynb").read_text() == "cached bytes"
    assert (checkout / "book" / "_static" / "figures" / "ch4-demo.png").exists()
    timings = json.loads((checkout / "book" / "_generated" / "timings.json").read_text())
    assert timings["04-ntk"]["cached"] is True
    with pytest.raises(_Sentinel):
        execute.execute(checkout, config, force=True)


def test_a_failed_run_changes_nothing(checkout, monkeypatch):
    import papermill

    figures = checkout / "book" / "_static" / "figures"
    figures.mkdir(parents=True)
    (figures / "ch4-old.png").write_text("old figure")

    def half_then_fail(*args, **kwargs):
        import os

        Path(os.environ["MFT_FIGURE_DIR"], "ch4-old.png").write_text("half-written")
        raise RuntimeError("a check failed in cell 12")

    monkeypatch.setattr(papermill, "execute_notebook", half_then_fail)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", cache.CacheWarning)
        with pytest.raises(RuntimeError, match=r"04-ntk failed(.|\n)*nothing else changed"):
            execute.execute(checkout, load("ntk", "ci"), force=True)
    assert (figures / "ch4-old.png").read_text() == "old figure"
    assert not list((checkout / "book" / "chapters").glob("*.ipynb"))
    assert not list((checkout / "book" / "_build" / "staging").iterdir())
