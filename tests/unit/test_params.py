"""Unit tests of params.py with the chapter-1 schema: loading, overrides, every rejection."""

import pytest

import mftransformer as mft
from mftransformer.companion.params import available_sets, describe, load
from mftransformer.solver.errors import ParameterError


def test_load_ci_and_full():
    assert {"ci", "full"} <= set(available_sets())
    cfg = load("forward", "ci")
    assert cfg.chapter == "forward" and cfg.seed == 0
    assert isinstance(cfg.depth.Ls, tuple) and isinstance(cfg.width.sigma, float)
    assert load("forward", "full").depth.L_ref >= cfg.depth.L_ref


def test_overrides_nested_and_dotted_and_hash():
    base = load("forward", "ci")
    a = load("forward", "ci", {"depth": {"Ls": [4, 8]}})
    b = load("forward", "ci", {"depth.Ls": [4, 8]})
    assert a.depth.Ls == (4, 8) == b.depth.Ls and a.depth.M == base.depth.M
    assert a.hash() == b.hash() != base.hash()
    assert len(base.hash()) == 64 and repr(base).startswith("Config('forward', 'ci'")


def test_keys_depend_on_tag_only():
    import jax

    cfg = load("forward", "ci")
    k1, k2 = cfg.key("depth"), cfg.key("width")
    assert not (jax.random.key_data(k1) == jax.random.key_data(k2)).all()
    assert (
        jax.random.key_data(k1) == jax.random.key_data(load("forward", "ci").key("depth"))
    ).all()


def test_unknown_key_suggests():
    with pytest.raises(
        ParameterError, match=r"\[forward.depth\]: unknown key 'Lss'.*Did you mean 'Ls'"
    ):
        load("forward", "ci", {"depth.Lss": [4]})


def test_wrong_type_and_range():
    with pytest.raises(ParameterError, match=r"M = '64' \(str\); allowed int"):
        load("forward", "ci", {"depth.M": "64"})
    with pytest.raises(ParameterError, match=r"M = True \(bool\); allowed int"):
        load("forward", "ci", {"depth.M": True})
    with pytest.raises(ParameterError, match=r"M = 0; allowed int >= 1"):
        load("forward", "ci", {"depth.M": 0})
    with pytest.raises(ParameterError, match=r"Ls = \[\]; allowed a non-empty list of int"):
        load("forward", "ci", {"depth.Ls": []})
    with pytest.raises(ParameterError, match=r"s = 1.5; allowed float <= 1"):
        load("forward", "ci", {"flow.s": [0.0, 1.5]})
    with pytest.raises(ParameterError, match=r"scale = nan; allowed a finite number"):
        load("forward", "ci", {"depth.scale": float("nan")})
    with pytest.raises(ParameterError, match=r"expected a mapping of keys, got int"):
        load("forward", "ci", {"depth": 3})


def test_unknown_chapter_and_set():
    with pytest.raises(ParameterError, match=r"chapter = 'forwad'.*Did you mean 'forward'"):
        load("forwad", "ci")
    with pytest.raises(ParameterError, match=r"params_set = 'cii'.*Did you mean 'ci'"):
        load("forward", "cii")


def test_missing_section_attribute():
    cfg = load("forward", "ci")
    with pytest.raises(AttributeError, match=r"no section 'dept'.*Did you mean 'depth'"):
        _ = cfg.dept


def test_describe_lists_every_leaf():
    rows = describe("forward")
    keys = [r[0] for r in rows]
    assert "seed" in keys and "depth.Ls" in keys and "width.fit_from" in keys
    assert all(r[3] for r in rows), "every parameter has a doc line"
    assert dict((r[0], r[1]) for r in rows)["depth.Ls"] == "list of int"


def test_as_dict_is_json_plain():
    import json

    d = mft.params.load("forward", "ci").as_dict()
    assert json.loads(json.dumps(d))["depth"]["Ls"] == list(d["depth"]["Ls"])


def test_schemas_are_imported_statically_without_a_cycle():
    import ast
    from pathlib import Path

    from mftransformer import experiments
    from mftransformer.companion import params
    from mftransformer.experiments import schema

    assert list(params.SCHEMAS) == list(params.CHAPTERS)
    for chapter, cls in params.SCHEMAS.items():
        assert cls is experiments.CHAPTERS[chapter].Params
    assert params.param is schema.param
    src = Path(experiments.__file__).parent
    for path in [*src.glob("*/params.py"), src / "schema.py", src / "blocks.py"]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                assert "companion" not in (node.module or ""), f"{path} imports {node.module}"


def test_no_section_retypes_a_whole_shared_block():
    # a section that declares every field of a block itself (same docs and ranges) should inherit it
    import dataclasses

    from mftransformer.companion.params import SCHEMAS
    from mftransformer.experiments import blocks

    shared = {
        name: {f.name: dict(f.metadata) for f in dataclasses.fields(getattr(blocks, name))}
        for name in blocks.__all__
    }
    for chapter, root in SCHEMAS.items():
        for section in dataclasses.fields(root):
            cls = section.type
            if not dataclasses.is_dataclass(cls):
                continue
            own = cls.__dict__.get("__annotations__", {})
            mine = {f.name: dict(f.metadata) for f in dataclasses.fields(cls) if f.name in own}
            for block, block_fields in shared.items():
                if block_fields and all(mine.get(k) == m for k, m in block_fields.items()):
                    pytest.fail(f"{chapter}.{section.name} retypes the block {block}")


# ---------------------------------------------------------------- issue 18: complete validation
@pytest.mark.parametrize(
    ("chapter", "override", "match"),
    [
        ("ntk", {"closed_form.M": 3}, r"\[ntk.closed_form\]: M = 3; allowed an even integer"),
        ("ntk", {"scan.M": 5}, r"\[ntk.scan\]: M = 5; allowed an even integer"),
        ("convergence", {"stall.M": 7}, r"\[convergence.stall\]: M = 7; allowed an even"),
        ("convergence", {"sweep.M": 1}, r"\[convergence.sweep\]: M = 1; allowed int >= 2"),
        (
            "convergence",
            {"injective.xi0": [1.0]},
            r"\[convergence.injective\]: xi0 has 1 and W has 2 entries; allowed d = 2 each",
        ),
        (
            "convergence",
            {"sweep.W": [1.0, 2.0, 3.0]},
            r"xi0 has 2 and W has 3 entries; allowed d = 2",
        ),
    ],
)
def test_cross_field_rules_refused_at_load(chapter, override, match):
    with pytest.raises(ParameterError, match=match):
        load(chapter, "ci", override)


def test_every_parameter_set_passes_the_rules():
    from mftransformer.companion.params import CHAPTERS

    for chapter in CHAPTERS:
        for params_set in available_sets():
            load(chapter, params_set)


def test_describe_shows_even():
    rows = {key: rng for key, _, rng, _ in describe("ntk")}
    assert rows["closed_form.M"] == ">= 2, even"


def test_overrides_as_a_json_or_yaml_string():
    as_dict = load("forward", "ci", {"depth": {"Ls": [4, 8]}})
    assert load("forward", "ci", '{"depth": {"Ls": [4, 8]}}').hash() == as_dict.hash()
    assert load("forward", "ci", "depth: {Ls: [4, 8]}").depth.Ls == (4, 8)
    assert load("forward", "ci", "").hash() == load("forward", "ci").hash()


@pytest.mark.parametrize(
    ("overrides", "match"),
    [
        ('{"depth": {"Ls": [4, 8]}', r"params: overrides:1:\d+: YAML syntax error"),
        ("[1, 2]", r"overrides = \[1, 2\]; allowed a mapping"),
        ("42", r"overrides = 42; allowed a mapping"),
        ('{"depth": {"Lss": [4]}}', r"unknown key 'Lss'"),
    ],
)
def test_bad_override_strings(overrides, match):
    with pytest.raises(ParameterError, match=match):
        load("forward", "ci", overrides)


def test_yaml_syntax_error_is_one_line_with_file_line_column(tmp_path, monkeypatch):
    from mftransformer.companion import params

    (tmp_path / "ci.yaml").write_text("forward:\n  seed: 0\n  depth: [1, 2\n")
    monkeypatch.setattr(params, "params_dir", lambda: tmp_path)
    with pytest.raises(ParameterError) as info:
        load("forward", "ci")
    message = str(info.value)
    assert "\n" not in message
    assert f"{tmp_path / 'ci.yaml'}:4:1: YAML syntax error" in message
    (tmp_path / "ci.yaml").write_text("- 1\n- 2\n")
    with pytest.raises(ParameterError, match=r"holds a list; allowed a mapping"):
        load("forward", "ci")


def test_an_ntk_too_large_for_memory_is_refused_when_the_parameters_load():
    with pytest.raises(ParameterError, match=r"closed_form\]: the NTK of N = 4000, .* GiB"):
        load("ntk", "ci", {"closed_form": {"N": 4000, "n": 64}})
    with pytest.raises(ParameterError, match=r"injective\]: the NTK of N = 4000"):
        load("convergence", "ci", {"injective": {"N": 4000, "n": 64}})
