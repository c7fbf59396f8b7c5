"""The API page stands on its own: docstrings write formulas as typeset math, not as code.

Autodoc shows a docstring's ````...```` literal as monospace code, so a formula written that way
(````ν^{L,M}_s = (1/M) Σ_m δ_{θ_{ℓm}}````) reads as raw text; formulas use the role
``:math:`...``` (LaTeX, raw docstrings ``r\"\"\"...\"\"\"``). For every public object of the modules
in :data:`CONVERTED` (the module, its public functions and classes, and their public methods and
properties), no inline literal looks like a formula, no math role holds a control character (a
backslash escape such as ``\\t`` of ``\\theta`` eaten by a non-raw string), and no docstring
cites a file that readers do not have (the design notes).

:data:`PENDING` lists the modules whose docstrings are still to be converted; a module moves to
:data:`CONVERTED` when it is, and every module of the package is in exactly one of the two.
"""

import importlib
import inspect
import pkgutil
import re
import types

import pytest

import mftransformer

#: Modules whose docstrings write formulas as math (tested).
CONVERTED = [
    *(
        f"mftransformer.solver.{name}"
        for name in (
            "types",
            "errors",
            "validate",
            "measures",
            "laws",
            "heads",
            "streaming",
            "sharding",
            "schemes",
            "risk",
            "tasks",
            "diagnostics",
            "adjoint",
            "first_variation",
            "reversal",
            "attention",
            "gradflow",
            "ensembles",
            "tracers",
            "lazy",
            "distances",
            "forward",
            "ntk",
            "lse_test",
            "families",
        )
    ),
    "mftransformer.experiments.checks",
    "mftransformer.experiments.blocks",
    "mftransformer.experiments.schema",
    *(
        f"mftransformer.experiments.{chapter}"
        for chapter in ("forward", "adjoint", "gradflow", "ntk", "convergence")
    ),
    # every module of the companion (the list is filled in below)
]

#: Modules not yet converted: empty this list as they are (then they are tested too).
PENDING: list[str] = []

#: What makes an inline literal a formula: an operator no identifier or code snippet has, or a
#: TeX-style super/subscript group.
FORMULA = re.compile(r"[Σ∫√‖∇≤≥∂]|\^\{|_\{")
LITERAL = re.compile(r"``(.+?)``", re.S)
MATH_ROLE = re.compile(r":math:`([^`]*)`")
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f]")  # a newline in math is wrapping: not tested
NOT_FOR_READERS = re.compile(r"MATH\.md|STYLE\.md|DESIGN\.md|shared/design")


def _all_modules() -> list[str]:
    names = [
        info.name
        for info in pkgutil.walk_packages(mftransformer.__path__, "mftransformer.")
        if not info.name.rsplit(".", 1)[-1].startswith("_")
    ]
    return sorted(names)


def _covers(listed: list[str], module: str) -> bool:
    return any(module == name or module.startswith(name + ".") for name in listed)


def _modules_converted() -> list[str]:
    """The modules of :data:`CONVERTED` (a chapter's package with all its modules) and the
    companion's."""
    covered = [
        m
        for m in _all_modules()
        if _covers(CONVERTED, m) or m.startswith("mftransformer.companion.")
    ]
    return sorted({*CONVERTED, *covered})


def _public(module):
    """(qualified name, docstring) of the module and of each public object it defines."""
    yield module.__name__, module.__doc__
    names = getattr(module, "__all__", None) or [n for n in vars(module) if not n.startswith("_")]
    for name in names:
        obj = getattr(module, name, None)
        if getattr(obj, "__module__", None) != module.__name__:
            continue  # re-exported: tested where it is defined
        if inspect.isfunction(obj):
            yield f"{module.__name__}.{name}", obj.__doc__
        elif inspect.isclass(obj):
            yield f"{module.__name__}.{name}", obj.__doc__
            for member, value in vars(obj).items():
                if member.startswith("_"):
                    continue
                target = value.fget if isinstance(value, property) else value
                if isinstance(target, staticmethod | classmethod):
                    target = target.__func__
                if inspect.isfunction(target):
                    yield f"{module.__name__}.{name}.{member}", target.__doc__


def problems_of(module) -> list[str]:
    found = []
    for where, doc in _public(module):
        if not doc:
            continue
        found += [
            f"{where}: formula as code ``{lit}`` (write :math:`...`)"
            for lit in LITERAL.findall(doc)
            if FORMULA.search(lit)
        ]
        found += [
            f'{where}: control character in :math:`{tex!r}` (use a raw docstring r"""...)'
            for tex in MATH_ROLE.findall(doc)
            if CONTROL.search(tex)
        ]
        found += [
            f"{where}: cites {m!r}, a file readers do not have"
            for m in NOT_FOR_READERS.findall(doc)
        ]
    return found


def test_every_module_is_converted_or_pending():
    modules = _all_modules()
    converted = _modules_converted()
    both = [m for m in modules if _covers(converted, m) and _covers(PENDING, m)]
    neither = [
        m
        for m in modules
        if not _covers(converted, m) and not _covers(PENDING, m) and m.count(".") >= 2
    ]
    assert not both, f"in both CONVERTED and PENDING: {both}"
    assert not neither, f"modules in neither CONVERTED nor PENDING: {neither}"
    assert set(CONVERTED) <= set(modules), sorted(set(CONVERTED) - set(modules))


@pytest.mark.parametrize("module_name", _modules_converted())
def test_docstrings_write_formulas_as_math(module_name):
    found = problems_of(importlib.import_module(module_name))
    assert not found, "\n".join(found)


def test_the_check_finds_what_it_forbids():
    """The rule can fail: each kind of problem, in a module made for the test."""
    module = types.ModuleType("fake", "Heads ``ν^{L,M}_s = (1/M) Σ_m δ_{θ_{ℓm}}`` (MATH.md §2).")

    def f():
        pass

    f.__module__, f.__doc__ = "fake", ":math:`\\theta` but not raw: :math:`\theta`."
    module.f = f
    found = problems_of(module)
    kinds = ("formula as code", "control character", "cites 'MATH.md'")
    assert len(found) == 3 and all(any(k in p for p in found) for k in kinds), found
    f.__doc__ = r"The head :math:`\theta`, the function ``forward``, the shape (B, n, d)."
    module.__doc__ = r"Heads :math:`\nu^{L,M}_s = \frac1M \sum_m \delta_{\theta_{\ell m}}`."
    assert problems_of(module) == []
