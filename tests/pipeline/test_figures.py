"""``figures.save_figure``: same inputs, same bytes; Type 42 fonts and mathtext; bad ids and
missing data refused at save time, before any file is written."""

import io
import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest

from mftransformer import figures
from mftransformer.solver.errors import ParameterError

# A figure with mathtext in every text role, saved from a fresh interpreter.
_SCRIPT = r"""
import numpy as np
import mftransformer as mft
mft.configure()
from mftransformer import figures
fig, ax = figures.new_figure()
L = np.array([4.0, 8.0, 16.0, 32.0])
err = 0.3 / L
ax.loglog(L, err, "o-", label=r"$\|z_L - z\|_\infty$")
ax.loglog(L, 0.3 / L, "--", label=r"slope $-1$")
ax.set_xlabel(r"$L$ (layers)")
ax.set_ylabel(r"error $\varepsilon_L$")
ax.legend()
figures.save_figure(fig, "ch1-rebuild", data={"L": L, "err": err}, wall_s=1.0)
"""


@pytest.fixture()
def fresh_registry(monkeypatch):
    """An empty in-process id registry (ids used by other tests do not leak in)."""
    monkeypatch.setattr(figures, "_SAVED", {})


@pytest.fixture()
def outdir(tmp_path, monkeypatch, fresh_registry):
    out = tmp_path / "figures"
    monkeypatch.setenv("MFT_FIGURE_DIR", str(out))
    return out


def _build(out: Path):
    env = {**os.environ, "MFT_FIGURE_DIR": str(out), "MPLBACKEND": "Agg"}
    subprocess.run([sys.executable, "-c", _SCRIPT], env=env, check=True, timeout=120)
    return {p.name: p.read_bytes() for p in sorted(out.iterdir())}


@pytest.fixture(scope="module")
def rebuilt(tmp_path_factory):
    """The same figure built twice, in two processes."""
    base = tmp_path_factory.mktemp("rebuild")
    return _build(base / "a"), _build(base / "b")


def _without_checkout_state(blob: bytes) -> dict:
    # The commit and dirty flag are inputs, and other people may commit between the two builds;
    # the run block (wall time, device) is documented as skipped by comparisons.
    record = json.loads(blob)
    for key in ("git_commit", "git_dirty", "run"):
        record.pop(key)
    return record


def test_rebuild_is_byte_identical(rebuilt):
    first, second = rebuilt
    assert sorted(first) == [f"ch1-rebuild.{e}" for e in sorted(figures.EXTENSIONS)]
    differ = [
        n for n in first if n.endswith((".pdf", ".svg", ".png", ".npz")) and first[n] != second[n]
    ]
    assert not differ, f"rebuilding from the same inputs changed the bytes of {differ}"
    a, b = first["ch1-rebuild.json"], second["ch1-rebuild.json"]
    assert _without_checkout_state(a) == _without_checkout_state(b)
    assert a.decode() == json.dumps(json.loads(a), indent=2, sort_keys=True) + "\n"


def test_no_dates_or_tool_stamps(rebuilt):
    files, _ = rebuilt
    pdf, svg, png = files["ch1-rebuild.pdf"], files["ch1-rebuild.svg"], files["ch1-rebuild.png"]
    assert b"/CreationDate" not in pdf and b"/ModDate" not in pdf and b"/Producer" not in pdf
    assert b"<dc:date>" not in svg and b"Matplotlib" not in svg
    assert b"tIME" not in png and b"Software" not in png


def test_pdf_fonts_are_embedded_type42(rebuilt):
    files, _ = rebuilt
    pdf = files["ch1-rebuild.pdf"]
    assert b"/Type3" not in pdf, "Type 3 fonts in the PDF: pdf.fonttype must be 42"
    assert b"/CIDFontType2" in pdf or b"/TrueType" in pdf
    assert b"/FontFile2" in pdf, "the TrueType font program is not embedded"


def test_mathtext_without_tex(rebuilt):
    files, _ = rebuilt
    assert figures.STYLE["text.usetex"] is False
    # mathtext draws the glyphs itself: the DejaVu math fonts are embedded, no TeX is called.
    assert b"DejaVu" in files["ch1-rebuild.pdf"]


def test_provenance_record(rebuilt):
    files, _ = rebuilt
    record = json.loads(files["ch1-rebuild.json"])
    for key in (
        "figure_id",
        "chapter",
        "params_set",
        "params_hash",
        "seed",
        "git_commit",
        "versions",
        "run",
        "source",
        "plotted_by",
        "data_sha256",
        "files",
        "checks",
    ):
        assert key in record, key
    assert record["figure_id"] == "ch1-rebuild" and record["chapter"] == "forward"
    assert record["files"] == [f"ch1-rebuild.{e}" for e in figures.EXTENSIONS]
    assert record["run"]["wall_s"] == 1.0
    with np.load(io.BytesIO(files["ch1-rebuild.npz"])) as npz:
        np.testing.assert_array_equal(npz["L"], [4.0, 8.0, 16.0, 32.0])


def _fig():
    fig, ax = figures.new_figure()
    ax.plot([0, 1], [0, 1])
    return fig


def _config(chapter="forward"):
    """Enough of a ``params.Config`` for the provenance."""
    return types.SimpleNamespace(
        chapter=chapter,
        params_set="ci",
        overrides={},
        seed=0,
        hash=lambda: "0" * 64,
        as_dict=lambda: {"seed": 0},
    )


@pytest.mark.parametrize(
    "bad",
    [
        "fig1",
        "ch1",
        "ch0-rate",
        "Ch1-rate",
        "ch1-Rate",
        "ch1_rate",
        "ch1-rate.pdf",
        "ch1--rate",
        "ch1-rate-",
        "ch1-../rate",
        "ch1-rate/x",
        "ch1-ra te",
        "ch10-rate",
        "",
        None,
        7,
        "ch1-" + "a" * 80,
    ],
)
def test_bad_ids_refused_before_writing(outdir, bad):
    with pytest.raises(ParameterError, match=r"fig_id = .*allowed 'ch<k>-<slug>'"):
        figures.save_figure(_fig(), bad, data={"x": np.arange(3)})
    assert not outdir.exists() or not any(outdir.iterdir())


def test_id_of_another_chapter_refused(outdir):
    match = r"in chapter 'adjoint'; allowed ids starting with 'ch2-'"
    with pytest.raises(ParameterError, match=match):
        figures.save_figure(_fig(), "ch1-rate", data={"x": np.arange(3)}, params=_config("adjoint"))


def test_missing_data_refused_before_writing(outdir):
    with pytest.raises(ParameterError, match="has no data"):
        figures.save_figure(_fig(), "ch1-rate")
    with pytest.raises(ParameterError, match="has no data"):
        figures.save_figure(_fig(), "ch1-rate", data={})
    assert not outdir.exists()


@pytest.mark.parametrize(
    "data, match",
    [
        ([1, 2, 3], "data = list; allowed a dict"),
        ({"not a name": [1.0]}, "data key 'not a name'; allowed a Python identifier"),
        ({"labels": np.array(["a", "b"])}, "dtype <U1; allowed numeric or boolean"),
        ({"mixed": np.array([{}, 1], dtype=object)}, "dtype object; allowed numeric"),
    ],
)
def test_bad_data_refused(outdir, data, match):
    with pytest.raises(ParameterError, match=match):
        figures.save_figure(_fig(), "ch1-rate", data=data)
    assert not outdir.exists()


def test_not_a_figure_refused(outdir):
    with pytest.raises(ParameterError, match="fig = ndarray; allowed a matplotlib.figure.Figure"):
        figures.save_figure(np.zeros(3), "ch1-rate", data={"x": np.arange(3)})


def test_bad_width_refused():
    match = r"width = 'wide'; allowed one of \['column', 'page'\]"
    with pytest.raises(ParameterError, match=match):
        figures.new_figure(width="wide")


def _plot_a():
    fig, ax = figures.new_figure()
    ax.plot([0, 1], [0, 1])
    return fig


def _plot_b():
    fig, ax = figures.new_figure()
    ax.plot([0, 1], [1, 0])
    return fig


def test_one_id_one_figure(outdir):
    kw = {"params": _config(), "source": "mftransformer.experiments.forward:depth"}
    data = {"x": np.arange(3.0)}
    figures.save_figure(_plot_a(), "ch1-rate", data=data, **kw)
    # The same figure again (a re-run cell) is fine; other parameters make a new version of it.
    figures.save_figure(_plot_a(), "ch1-rate", data=data, **kw)
    figures.save_figure(
        _plot_a(),
        "ch1-rate",
        data={"x": np.arange(4.0)},
        source=kw["source"],
        params=types.SimpleNamespace(**{**vars(_config()), "hash": lambda: "1"}),
    )
    with pytest.raises(ParameterError, match=r"'ch1-rate' is already used .*plotted by"):
        figures.save_figure(_plot_b(), "ch1-rate", data=data, **kw)
    with pytest.raises(ParameterError, match="same parameters but different data"):
        figures.save_figure(_plot_a(), "ch1-rate", data={"x": np.arange(5.0)}, **kw)
    with pytest.raises(ParameterError, match="computed by"):
        figures.save_figure(
            _plot_a(),
            "ch1-rate",
            data=data,
            params=_config(),
            source="mftransformer.experiments.forward:other",
        )
    assert sorted(p.name for p in outdir.iterdir()) == [
        f"ch1-rate.{e}" for e in sorted(figures.EXTENSIONS)
    ]


def test_plotted_by_names_the_plot_function(outdir):
    record = figures.save_figure(_plot_a(), "ch1-who", data={"x": np.arange(3)})
    assert record["plotted_by"].endswith("test_figures:_plot_a")


def test_every_chapter_figure_is_saved_under_its_name():
    """A figure id is written once, in the ``save_figure`` call; the pipeline names the figure
    cell from it (file stem, label, gallery entry); ids are unique across the book, and
    ``save_figure`` is the only way figures are written."""
    import re

    import jupytext

    from mftransformer.companion.execute import name_figures

    root = Path(__file__).resolve().parents[2]
    seen = {}
    for source in sorted((root / "notebooks").glob("[0-9][0-9]-*.md")):
        assert not re.search(r"\bname: ch\d", source.read_text()), f"{source.name}: id twice"
        notebook = jupytext.read(source)
        name_figures(notebook, source.name)
        for cell in notebook.cells:
            name = cell.metadata.get("mystnb", {}).get("figure", {}).get("name")
            assert "savefig(" not in cell.source, f"{source.name}: use mft.save_figure"
            if cell.cell_type != "code" or name is None:
                continue
            assert figures.FIGURE_ID.match(name), name
            assert figures.chapter_number(name) == int(source.name[:2]), name
            assert name not in seen, f"figure id '{name}' in {source.name} and {seen.get(name)}"
            seen[name] = source.name
    assert len(seen) >= 20, sorted(seen)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("fig = plot(r)\nfig", r"found \[\]"),
        ('mft.save_figure(a, "ch1-a")\nmft.save_figure(b, "ch1-b")', r"found \['ch1-a', 'ch1-b'\]"),
    ],
)
def test_a_figure_cell_must_save_exactly_one_figure(source, message):
    import jupytext

    from mftransformer.companion.execute import name_figures
    from mftransformer.solver.errors import ParameterError

    text = "```{code-cell} ipython3\n---\nmystnb:\n  figure:\n    caption: c\n---\n"
    notebook = jupytext.reads(text + source + "\n```\n", fmt="md:myst")
    with pytest.raises(ParameterError, match=message):
        name_figures(notebook, "x.md")
