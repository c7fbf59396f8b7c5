"""``companion.performance``: the Performance page from small synthetic benchmark JSON files."""

import json

import pytest

from mftransformer.companion.performance import performance_page, read_results, write_page

COMMIT = "0123456789abcdef0123456789abcdef01234567"


def _provenance(platform="cpu", kind="cpu"):
    return {
        "machine": {
            "cpu": "Test CPU 9000",
            "cores": 2,
            "platform": "Linux-test",
            "device_platform": platform,
            "device_kind": kind,
            "allocator": "tcmalloc",
            "load_average_start": [1.5, 1.0, 0.5],
            "load_average_end": [2.25, 1.0, 0.5],
        },
        "versions": {"jax": "0.10.2", "jaxlib": "0.10.2", "numpy": "2.4.6", "torch": None},
        "date": "2026-12-02T06:00:00Z",
        "commit": COMMIT,
        "dirty": False,
    }


def _machine(platform="cpu", kind="cpu"):
    return {
        "benchmark": "machine",
        **_provenance(platform, kind),
        "findings": ["forward float64 at S2: 0.61 of the bound set by exp (target >= 0.5: met)"],
        "tables": [
            {
                "title": "Score entries per second",
                "header": ["size", "program", "median ms", "fraction"],
                "rows": [
                    ["S2", "forward|fused", 305.25, 0.6123],
                    ["ci", "forward", 0.044, None],
                    ["S2", "gradient", 1630.4, 1.0],
                ],
                "note": "E = B·M·(n+1)·n; <A z_k, z_j> costs 2d flops",
            }
        ],
    }


def _scaling():
    rows = [{"n": v, "forward": 1e-3 * v**2, "autodiff": 5e-3 * v**2} for v in (16, 32, 64)]
    return {
        "benchmark": "scaling",
        **_provenance(),
        "findings": ["time against n: exponent 2.00 (forward)"],
        "time": {
            "n": {
                "values": [16, 32, 64],
                "rows": rows,
                "exponent_forward": 2.0,
                "exponent_gradient": 2.0,
                "expected": 2.0,
            }
        },
        "tables": [
            {"title": "Fitted exponents", "header": ["size", "forward"], "rows": [["n", 2.0]]}
        ],
    }


@pytest.fixture
def results(tmp_path):
    folder = tmp_path / "results"
    folder.mkdir()
    (folder / "machine.json").write_text(json.dumps(_machine()))
    (folder / "machine-gpu.json").write_text(json.dumps(_machine("gpu", "NVIDIA H200")))
    (folder / "scaling.json").write_text(json.dumps(_scaling()))
    return folder


def test_page_has_provenance_findings_and_tables(results):
    page = performance_page(results)
    assert page.startswith("# Performance\n")
    assert "## Against the machine" in page and "## Scaling" in page
    assert page.index("## Against the machine") < page.index("## Scaling")
    # each file: machine, versions, date, commit
    assert page.count("Test CPU 9000") >= 3
    assert "jax 0.10.2" in page and "(no PyTorch)" in page
    assert "2026-12-02T06:00:00Z" in page and f"`{COMMIT[:12]}`" in page
    # the GPU file comes beside the CPU one, after it
    assert page.index("### CPU: Test CPU 9000, 2 cores") < page.index("### GPU: NVIDIA H200")
    # findings and a table; numbers to 3 significant digits, None as a dash, pipes escaped
    assert "0.61 of the bound set by exp" in page
    assert "| size | program | median ms | fraction |" in page
    assert "|---|---|--:|--:|" in page
    assert "| S2 | forward\\|fused | 305 | 0.612 |" in page
    assert "| ci | forward | 0.044 | – |" in page
    assert "| S2 | gradient | 1630 | 1 |" in page
    assert "load average (1 min) 1.5 at the start and 2.2 at the end, on 2 cores" in page
    # Markdown syntax in text is escaped (no stray HTML tag or emphasis)
    assert "\\<A z\\_k, z\\_j\\>" in page


def test_without_figure_dir_no_image(results):
    assert "![" not in performance_page(results)


def test_scaling_figure_drawn_from_the_json(results, tmp_path):
    pytest.importorskip("matplotlib")
    figures = tmp_path / "page" / "performance"
    page = performance_page(results, figures)
    assert "](performance/scaling-cpu.png)" in page
    assert (figures / "scaling-cpu.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_no_results_says_how_to_make_them(tmp_path):
    page = performance_page(tmp_path / "missing")
    assert "make bench" in page and "##" not in page


def test_a_corrupt_file_is_named_not_fatal(results):
    (results / "peers.json").write_text("{not json")
    with pytest.warns(UserWarning, match="peers.json"):
        reports, problems = read_results(results)
    assert [r["_file"] for r in reports] == ["machine.json", "machine-gpu.json", "scaling.json"]
    assert problems and "peers.json" in problems[0]
    with pytest.warns(UserWarning):
        page = performance_page(results)
    assert "peers.json: not read" in page


def test_write_page_into_a_book(results, tmp_path):
    book = tmp_path / "book"
    book.mkdir()
    page = write_page(book, results)
    assert page == book / "_generated" / "performance.md"
    text = page.read_text()
    assert text == performance_page(results, book / "_generated" / "performance")
    before = page.stat().st_mtime_ns
    write_page(book, results)  # unchanged: not rewritten
    assert page.stat().st_mtime_ns == before
