"""Parameter sets: ``notebooks/params/<set>.yaml``, one section per chapter, validated.

Each chapter's schema is the frozen dataclass ``Params`` of
``mftransformer.experiments.<chapter>.params``: a ``seed`` and one sub-dataclass per experiment,
every field declared with :func:`~mftransformer.experiments.schema.param` (type, range, one-line
doc). This module imports the schemas; they never import it. Nothing else states a default, so
nothing drifts.

``load(chapter, params_set, overrides)`` rejects unknown keys (with a "did you mean"), missing
keys, wrong types (no silent ``"64"`` → ``64``) and out-of-range values, before any computation.

>>> cfg = load("forward", "ci")                       # doctest: +SKIP
>>> cfg.depth.Ls, cfg.key("depth"), cfg.hash()[:8]    # doctest: +SKIP
"""

import dataclasses
import hashlib
import json
import re
import typing
import zlib
from pathlib import Path

import yaml

from ..experiments.adjoint.params import Params as AdjointParams
from ..experiments.convergence.params import Params as ConvergenceParams
from ..experiments.forward.params import Params as ForwardParams
from ..experiments.gradflow.params import Params as GradflowParams
from ..experiments.ntk.params import Params as NTKParams
from ..experiments.schema import check_rules, param
from ..solver.errors import ParameterError, suggest

__all__ = [
    "param",
    "load",
    "Config",
    "CHAPTERS",
    "SCHEMAS",
    "params_dir",
    "available_sets",
    "describe",
    "read_yaml",
    "parse_overrides",
]

#: chapter name -> notebook stem
CHAPTERS = {
    "forward": "01-forward",
    "adjoint": "02-adjoint",
    "gradflow": "03-gradient-flow",
    "ntk": "04-ntk",
    "convergence": "05-convergence",
}

#: chapter name -> its schema (``param`` is re-exported from :mod:`..experiments.schema`)
SCHEMAS = {
    "forward": ForwardParams,
    "adjoint": AdjointParams,
    "gradflow": GradflowParams,
    "ntk": NTKParams,
    "convergence": ConvergenceParams,
}


class Config:
    """A validated parameter set for one chapter.

    Attributes: ``chapter``, ``params_set``, ``overrides``, ``values`` (the chapter's ``Params``),
    and each experiment's sub-section as an attribute (``cfg.depth``).
    """

    def __init__(self, chapter: str, params_set: str, overrides: dict, values):
        self.chapter, self.params_set, self.overrides, self.values = (
            chapter,
            params_set,
            overrides,
            values,
        )

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            return getattr(self.values, name)
        except AttributeError:
            fields = [f.name for f in dataclasses.fields(self.values)]
            raise AttributeError(
                f"params '{self.params_set}' [{self.chapter}] has no section '{name}'."
                f"{suggest(name, fields)} Sections: {', '.join(fields)}."
            ) from None

    @property
    def seed(self) -> int:
        return self.values.seed

    def as_dict(self) -> dict:
        """The resolved parameters as plain JSON-able data."""
        return _jsonable(dataclasses.asdict(self.values))

    def hash(self) -> str:
        """SHA-256 of the canonical JSON of (chapter, resolved parameters)."""
        blob = json.dumps({"chapter": self.chapter, "params": self.as_dict()}, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def key(self, tag: str):
        """The experiment's root key: ``fold_in(key(seed), crc32(tag))``, independent of order."""
        import jax

        return jax.random.fold_in(jax.random.key(self.seed), zlib.crc32(tag.encode()))

    def __repr__(self):
        return f"Config({self.chapter!r}, {self.params_set!r}, hash={self.hash()[:12]})"


def params_dir() -> Path:
    """``notebooks/params`` of the checkout (searched upwards from the working directory)."""
    for base in [Path.cwd(), *Path.cwd().parents]:
        candidate = base / "notebooks" / "params"
        if candidate.is_dir():
            return candidate
    here = Path(__file__).resolve()
    for base in here.parents:
        candidate = base / "notebooks" / "params"
        if candidate.is_dir():
            return candidate
    raise ParameterError(
        "params: no notebooks/params folder found above the working directory; run from the "
        "repository (or a folder inside it)."
    )


def available_sets() -> list[str]:
    return sorted(p.stem for p in params_dir().glob("*.yaml"))


def load(chapter: str, params_set: str = "ci", overrides: dict | str | None = None) -> Config:
    """Load, merge and validate one chapter's parameters.

    Args:
        chapter: one of :data:`CHAPTERS` (``"forward"``, ...).
        params_set: the name of a file ``notebooks/params/<name>.yaml`` (``"ci"``, ``"full"``).
        overrides: nested dict merged over the section (``{"depth": {"Ls": [4, 8]}}``) or dotted
            keys (``{"depth.Ls": [4, 8]}``); or the same as a YAML/JSON string (papermill's
            ``-p overrides '{...}'``).

    Raises:
        ParameterError: unknown chapter, set or key; missing key; wrong type; out of range; a
            broken cross-field rule (odd ``M`` for silent pairs); a YAML syntax error (one line
            with the file, line and column).
    """
    overrides = parse_overrides(overrides)
    if chapter not in CHAPTERS:
        raise ParameterError(
            f"params: chapter = {chapter!r}; allowed {list(CHAPTERS)}.{suggest(chapter, CHAPTERS)}"
        )
    sets = available_sets()
    if params_set not in sets:
        raise ParameterError(
            f"params: params_set = {params_set!r}; allowed {sets}.{suggest(params_set, sets)}"
        )
    path = params_dir() / f"{params_set}.yaml"
    document = read_yaml(path.read_text(), str(path)) or {}
    if not isinstance(document, dict):
        raise ParameterError(
            f"params: {path} holds a {type(document).__name__}; allowed a mapping."
        )
    if chapter not in document:
        raise ParameterError(f"params '{params_set}': no section '{chapter}' in {params_set}.yaml.")
    raw = _merge(document[chapter], _nest(overrides or {}))
    label = f"params '{params_set}'" + (" + overrides" if overrides else "")
    values = _build(SCHEMAS[chapter], raw, label, [chapter])
    return Config(chapter, params_set, dict(overrides or {}), values)


def read_yaml(text: str, source: str):
    """Parse YAML (this module's loader); a syntax error becomes one :class:`ParameterError` line
    ``<source>:<line>:<column>: <problem>``."""
    try:
        return yaml.load(text, Loader=YamlLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}:{mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ParameterError(
            f"params: {source}{at}: YAML syntax error ({problem}); allowed valid YAML. Fix the "
            "file or the value at that position."
        ) from None


def parse_overrides(overrides) -> dict:
    """Overrides as a dict: a dict, None, or a YAML/JSON string of a mapping (papermill passes
    ``-p overrides '{"depth": {"Ls": [4, 8]}}'`` as text)."""
    if overrides is None:
        return {}
    if isinstance(overrides, str):
        overrides = read_yaml(overrides, "overrides") if overrides.strip() else {}
        overrides = {} if overrides is None else overrides
    if not isinstance(overrides, dict):
        raise ParameterError(
            f"params: overrides = {overrides!r}; allowed a mapping (dict or a YAML/JSON string "
            'such as \'{"depth": {"Ls": [4, 8]}}\').'
        )
    return overrides


def describe(chapter: str) -> list[tuple[str, str, str, str]]:
    """Rows ``(key, type, range, doc)`` of a chapter's schema (for the Reproduce page)."""
    return list(_describe(SCHEMAS[chapter], ""))


# ---------------------------------------------------------------- private
class YamlLoader(yaml.SafeLoader):
    """SafeLoader that reads ``1e-3`` as a float (PyYAML's YAML 1.1 reads it as a string)."""


YamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)$|^[-+]?\d+\.\d*$|^[-+]?\.\d+$"),
    list("-+0123456789."),
)


def _nest(overrides: dict) -> dict:
    out: dict = {}
    for key, value in overrides.items():
        parts = str(key).split(".")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        if isinstance(value, dict) and isinstance(node.get(parts[-1]), dict):
            node[parts[-1]] = _merge(node[parts[-1]], value)
        else:
            node[parts[-1]] = value
    return out


def _merge(base, extra):
    if not isinstance(base, dict) or not isinstance(extra, dict):
        return extra
    out = dict(base)
    for key, value in extra.items():
        out[key] = _merge(base[key], value) if key in base else value
    return out


def _build(schema, raw, label, path):
    where = f"{label} [{'.'.join(path)}]"
    if not isinstance(raw, dict):
        raise ParameterError(f"{where}: expected a mapping of keys, got {type(raw).__name__}.")
    fields = {f.name: f for f in dataclasses.fields(schema)}
    hints = typing.get_type_hints(schema)
    for key in raw:
        if key not in fields:
            raise ParameterError(
                f"{where}: unknown key '{key}'.{suggest(key, fields)} "
                f"Valid keys: {', '.join(fields)}."
            )
    kwargs = {}
    for name, field in fields.items():
        if name not in raw:
            raise ParameterError(
                f"{where}: missing key '{name}' ({field.metadata.get('doc', '')})."
            )
        tp = hints[name]
        if dataclasses.is_dataclass(tp):
            kwargs[name] = _build(tp, raw[name], label, [*path, name])
        else:
            kwargs[name] = _coerce(raw[name], tp, field.metadata, f"{where}: {name}")
    values = schema(**kwargs)
    try:
        check_rules(values, where)
    except ParameterError:
        raise
    except ValueError as exc:  # the schemas are standard library only: they raise ValueError
        raise ParameterError(str(exc)) from None
    return values


def _type_name(tp) -> str:
    if typing.get_origin(tp) is tuple:
        return f"list of {typing.get_args(tp)[0].__name__}"
    return tp.__name__


def _coerce(value, tp, meta, where):
    if typing.get_origin(tp) is tuple:
        (elem,) = {a for a in typing.get_args(tp) if a is not Ellipsis}
        if not isinstance(value, list | tuple) or not value:
            raise ParameterError(f"{where} = {value!r}; allowed a non-empty {_type_name(tp)}.")
        return tuple(_coerce(v, elem, meta, where) for v in value)
    ok = (
        (tp is bool and isinstance(value, bool))
        or (tp is int and isinstance(value, int) and not isinstance(value, bool))
        or (tp is float and isinstance(value, int | float) and not isinstance(value, bool))
        or (tp is str and isinstance(value, str))
    )
    if not ok:
        raise ParameterError(
            f"{where} = {value!r} ({type(value).__name__}); allowed {tp.__name__}."
        )
    value = float(value) if tp is float else value
    _check_range(value, meta, where, tp)
    return value


def _check_range(value, meta, where, tp):
    checks = [
        ("ge", lambda v, b: v >= b, ">="),
        ("gt", lambda v, b: v > b, ">"),
        ("le", lambda v, b: v <= b, "<="),
        ("lt", lambda v, b: v < b, "<"),
    ]
    if tp is float and value != value or value in (float("inf"), float("-inf")):
        raise ParameterError(f"{where} = {value!r}; allowed a finite number.")
    for key, ok, sign in checks:
        bound = meta.get(key)
        if bound is not None and not ok(value, bound):
            raise ParameterError(
                f"{where} = {value!r}; allowed {tp.__name__} {sign} {bound} ({meta['doc']})."
            )
    if meta.get("even") and tp is int and value % 2:
        raise ParameterError(f"{where} = {value!r}; allowed an even integer ({meta['doc']}).")
    choices = meta.get("choices")
    if choices is not None and value not in choices:
        raise ParameterError(
            f"{where} = {value!r}; allowed one of {list(choices)}.{suggest(value, choices)}"
        )


def _range_text(meta) -> str:
    parts = [
        f"{s} {meta[k]}"
        for k, s in (("ge", ">="), ("gt", ">"), ("le", "<="), ("lt", "<"))
        if meta.get(k) is not None
    ]
    if meta.get("choices") is not None:
        parts.append("one of " + ", ".join(map(str, meta["choices"])))
    if meta.get("even"):
        parts.append("even")
    return ", ".join(parts)


def _describe(schema, prefix):
    hints = typing.get_type_hints(schema)
    for f in dataclasses.fields(schema):
        tp = hints[f.name]
        if dataclasses.is_dataclass(tp):
            yield from _describe(tp, f"{prefix}{f.name}.")
        else:
            yield (
                prefix + f.name,
                _type_name(tp),
                _range_text(f.metadata),
                f.metadata.get("doc", ""),
            )


def _jsonable(obj):
    if isinstance(obj, dict):
        return {k: _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_jsonable(v) for v in obj]
    return obj
