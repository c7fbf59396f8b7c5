"""A chapter's numerical claims as checks that can fail, and log-log rate fits.

A :class:`Check` prints as one rounded line, ``name = value (expected …): PASS``, which nbval
compares between executions, and ``require()`` raises :class:`CheckFailed` on FAIL. The value is
printed one digit finer than the tolerance; near machine precision the bound is printed instead of
the noise (``adjoint_vs_autodiff < 1e-12: PASS``), the value being kept in ``measured``.
"""

import dataclasses
import functools
import math
import time

import numpy as np

from ..solver.errors import CheckFailed

__all__ = [
    "Check",
    "Checks",
    "Claim",
    "Claims",
    "fit_loglog",
    "LogLogFit",
    "Result",
    "result_type",
    "experiment",
]


@dataclasses.dataclass(frozen=True)
class Check:
    """One claim: ``name``, the ``measured`` value, the ``expected`` text and whether it holds.

    Build with :meth:`within`, :meth:`between`, :meth:`below` or :meth:`above`.
    """

    name: str
    measured: float
    expected: str
    passed: bool
    shown: str | None
    keys: tuple[float, ...] = ()

    @classmethod
    def within(cls, name, measured, target, tol, *, relative=False, decimals=None):
        r""":math:`|\mathrm{measured} - \mathrm{target}| \le \mathrm{tol}` (or
        :math:`\le \mathrm{tol} \cdot |\mathrm{target}|` if ``relative``)."""
        bound = tol * abs(target) if relative else tol
        passed = bool(abs(measured - target) <= bound)
        tol_text = f"{_pct(tol)}" if relative else _fmt_tol(tol)
        dec = _decimals(bound) if decimals is None else decimals
        return cls(
            name, float(measured), f"{_num(target, dec)} ± {tol_text}", passed, _num(measured, dec)
        )

    @classmethod
    def between(cls, name, measured, low, high, *, decimals=None):
        r""":math:`\mathrm{low} \le \mathrm{measured} \le \mathrm{high}`."""
        dec = _decimals((high - low) / 10) if decimals is None else decimals
        passed = bool(low <= measured <= high)
        return cls(
            name,
            float(measured),
            f"in [{_num(low, dec)}, {_num(high, dec)}]",
            passed,
            _num(measured, dec),
        )

    @classmethod
    def below(cls, name, measured, bound, *, show_value=False, sig=2):
        r""":math:`\mathrm{measured} < \mathrm{bound}`; prints the bound (not the noise) unless
        ``show_value``."""
        passed = bool(measured < bound)
        shown = _sig(measured, sig) if show_value else None
        return cls(name, float(measured), f"< {_bound(bound)}", passed, shown)

    @classmethod
    def above(cls, name, measured, bound, *, show_value=True, sig=2):
        r""":math:`\mathrm{measured} > \mathrm{bound}`."""
        passed = bool(measured > bound)
        shown = _sig(measured, sig) if show_value else None
        return cls(name, float(measured), f"> {_bound(bound)}", passed, shown)

    @property
    def status(self) -> str:
        return "PASS" if self.passed else "FAIL"

    def __str__(self):
        if self.shown is None:
            return f"{self.name} {self.expected}: {self.status}"
        return f"{self.name} = {self.shown} (expected {self.expected}): {self.status}"

    def require(self) -> None:
        """Raise :class:`CheckFailed` unless the check passed (returns nothing, so that a
        notebook cell ending with it shows only the printed line)."""
        if not self.passed:
            raise CheckFailed(f"{self}  [measured {self.measured!r}]")

    def as_dict(self) -> dict:
        row = {
            "name": self.name,
            "measured": self.measured,
            "expected": self.expected,
            "passed": self.passed,
            "line": str(self),
        }
        if self.keys:
            row["keys"] = list(self.keys)
        return row


@dataclasses.dataclass(frozen=True)
class Checks:
    """Several checks of one experiment, printed one per line."""

    items: tuple[Check, ...]

    def __str__(self):
        return "\n".join(str(c) for c in self.items)

    def __iter__(self):
        return iter(self.items)

    def __getitem__(self, name):
        for c in self.items:
            if c.name == name:
                return c
        raise KeyError(name)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.items)

    def require(self) -> None:
        """Raise :class:`CheckFailed` naming every check that failed."""
        failed = [c for c in self.items if not c.passed]
        if failed:
            raise CheckFailed("; ".join(f"{c}  [measured {c.measured!r}]" for c in failed))

    def as_dict(self) -> list:
        return [c.as_dict() for c in self.items]


RULES = ("within", "between", "below", "above", "custom")


@dataclasses.dataclass(frozen=True)
class Claim:
    r"""One row of a chapter's claims table: what is checked, against what, and why that band.

    Attributes:
        name: the check name, as printed (``depth_slope_euler``; the claims).
        experiment: the experiment function that measures it (``depth``).
        section: the notebook section it is shown in.
        doc: one line saying what is measured.
        rule: ``"within"`` (:math:`|x - \mathrm{target}| \le \mathrm{band}`, ``relative``:
            :math:`\le \mathrm{band} \cdot |\mathrm{target}|`), ``"between"``
            (``band = (low, high)``), ``"below"``/``"above"`` (``band`` the bound) or ``"custom"``
            (the experiment builds the :class:`Check`; ``expected`` says what).
        target: the target of ``within``; ``None`` where the experiment computes it (a predicted
            rate, a count of families).
        band: the tolerance, interval or bound (see ``rule``).
        reason: why the band is this wide (an order, Monte Carlo, round-off, a measurement).
        sanity: ``True`` for a check of the numerics (round-off, a floor reached), ``False`` for a
            claim of the paper.
        show_value, sig, decimals: how the line prints (see :class:`Check`).
    """

    name: str
    experiment: str
    section: str
    doc: str
    rule: str
    target: float | None = None
    band: float | tuple[float, float] | None = None
    reason: str = ""
    sanity: bool = False
    relative: bool = False
    show_value: bool | None = None
    sig: int = 2
    decimals: int | None = None
    expected: str = ""
    key_band: float | tuple[float, float] | None = None

    def __post_init__(self):
        assert self.rule in RULES, f"claim {self.name}: rule {self.rule!r} not in {RULES}"

    def check(self, measured, *, target=None) -> Check:
        """The :class:`Check` of ``measured`` against this claim (``target`` only where the claim
        leaves it to the experiment)."""
        target = self.target if target is None else target
        if self.rule == "within":
            return Check.within(
                self.name,
                measured,
                target,
                self.band,
                relative=self.relative,
                decimals=self.decimals,
            )
        if self.rule == "between":
            return Check.between(self.name, measured, *self.band, decimals=self.decimals)
        if self.rule in ("below", "above"):
            build = Check.below if self.rule == "below" else Check.above
            kwargs = {} if self.show_value is None else {"show_value": self.show_value}
            return build(self.name, measured, self.band, sig=self.sig, **kwargs)
        raise ValueError(f"claim {self.name}: a custom claim is checked by its experiment.")

    def check_keys(self, values, *, target=None) -> Check:
        """The robust form of :meth:`check` over repetitions with independent keys.

        Passes when the **median** of ``values`` passes the claim's band and **every** value lies
        inside ``key_band`` (the same kind of band as ``band``, usually wider; ``None``: ``band``
        itself). The line shows the median, the number of keys and their range::

            width_slope_iid = -0.51 (median of 8 keys, range -0.56 … -0.47; expected -0.50 ± 0.1,
            each key ± 0.2): PASS
        """
        values = np.asarray(values, float).ravel()
        if values.size < 1 or not np.all(np.isfinite(values)):
            raise ValueError(f"claim {self.name}: check_keys needs finite values, got {values}")
        base = self.check(float(np.median(values)), target=target)
        each = self._with_band(self.band if self.key_band is None else self.key_band)
        per_key = [each.check(v, target=target) for v in values]
        every = all(c.passed for c in per_key)
        fixed = base.shown is not None and "e" not in base.shown
        fmt = (lambda v: _num(v, _decimals_of(base))) if fixed else (lambda v: _sig(v, self.sig))
        shown = base.shown if base.shown is not None else _sig(base.measured, self.sig)
        each_text = per_key[0].expected.replace("expected ", "")
        return Check(
            self.name,
            base.measured,
            f"{base.expected}, each key {each_text}",
            base.passed and every,
            f"{shown}, median of {values.size} keys, range {fmt(values.min())} … "
            f"{fmt(values.max())}",
            tuple(float(v) for v in values),
        )

    def _with_band(self, band) -> "Claim":
        return dataclasses.replace(self, band=band, key_band=None)

    def as_dict(self) -> dict:
        """The row as JSON-able data (for the Status page)."""
        row = dataclasses.asdict(self)
        for field in ("band", "key_band"):
            value = row[field]
            row[field] = list(value) if isinstance(value, tuple) else value
        return row


@dataclasses.dataclass(frozen=True)
class Claims:
    """A chapter's claims table: :class:`Claim` rows in the order the chapter shows them,
    looked up by name (``CLAIMS["depth_slope_euler"]``)."""

    chapter: str
    items: tuple[Claim, ...]

    def __post_init__(self):
        names = [c.name for c in self.items]
        assert len(set(names)) == len(names), f"{self.chapter}: duplicate claim names {names}"

    def __iter__(self):
        return iter(self.items)

    def __len__(self):
        return len(self.items)

    def __getitem__(self, name: str) -> Claim:
        for c in self.items:
            if c.name == name:
                return c
        raise KeyError(f"{self.chapter}: no claim '{name}'; claims: {', '.join(self.names)}")

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.items]

    def of(self, experiment: str) -> list[Claim]:
        """The claims measured by one experiment."""
        return [c for c in self.items if c.experiment == experiment]


@dataclasses.dataclass(frozen=True)
class LogLogFit:
    r"""Least-squares line :math:`\log y = \mathrm{slope} \cdot \log x + \mathrm{intercept}`."""

    slope: float
    intercept: float

    def __call__(self, x):
        return np.exp(self.intercept) * np.asarray(x, float) ** self.slope


def fit_loglog(x, y) -> LogLogFit:
    r"""Fit :math:`\log y` against :math:`\log x` by least squares (at least two points, all
    positive)."""
    x, y = np.asarray(x, float), np.asarray(y, float)
    if x.size < 2 or np.any(x <= 0) or np.any(y <= 0):
        raise ValueError(f"fit_loglog: need >= 2 positive points, got x={x}, y={y}")
    slope, intercept = np.polyfit(np.log(x), np.log(y), 1)
    return LogLogFit(float(slope), float(intercept))


def _decimals(bound: float) -> int:
    """Decimals that show one digit finer than ``bound``."""
    if bound <= 0:
        return 3
    return max(0, 1 - math.floor(math.log10(bound)))


def _decimals_of(check: Check) -> int:
    """The decimals a check printed its value with."""
    text = check.shown or ""
    return len(text.split(".")[1]) if "." in text and "e" not in text else 0


def _num(v, dec) -> str:
    text = f"{v:.{dec}f}"
    return "0" + text[2:] if text.startswith("-0") and float(text) == 0 else text


def _sig(v, sig) -> str:
    """``sig`` significant digits, trailing zeros kept (1.038 -> "1.0", not "1")."""
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4):
        return f"{v:.{sig - 1}e}"
    if v == 0:
        return "0"
    decimals = max(0, sig - 1 - math.floor(math.log10(abs(v))))
    return f"{v:.{decimals}f}"


def _bound(v) -> str:
    """A bound as written by hand: ``1e-12``, ``5e-05`` -> ``5e-5``, ``0.05``, ``1.3``."""
    if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e4):
        mantissa, exponent = f"{v:.1e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent)}"
    return f"{v:g}"


def _fmt_tol(t) -> str:
    return f"{t:g}"


def _pct(t) -> str:
    return f"{100 * t:g} %"


@dataclasses.dataclass(frozen=True, kw_only=True)
class Result:
    """What an experiment returns: the data behind its figure (``data``, arrays as plotted), its
    check(s), the wall time and the function that computed it.

    Each experiment subclasses it with its own typed fields (``DepthResult(slopes=...,
    errors=...)``); :attr:`values` maps those field names to their values (the pages read them).
    """

    data: dict
    check: "Check | Checks"
    wall_s: float = 0.0
    source: str = ""

    @property
    def values(self) -> dict:
        """The experiment's own fields (all but ``data``, ``check``, ``wall_s``, ``source``)."""
        return {
            f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.name not in _BASE
        }


_BASE = frozenset(f.name for f in dataclasses.fields(Result))


def result_type(cls):
    """Declare an experiment's result: a frozen, keyword-only :class:`Result` subclass."""
    return dataclasses.dataclass(frozen=True, kw_only=True)(cls)


def experiment(fn=None, *, float64: bool = True):
    """Decorate ``fn(params, *, key) -> Result``: records its wall time and ``module:qualname``.

    While the results store is on (``$MFT_RESULTS_DIR``, set by the pipeline unless ``--force``),
    a result already computed for the same function, parameter section, key and code is taken
    from it (:mod:`mftransformer.companion.results`); its ``wall_s`` is the original's.

    An experiment compares with theory in float64: called while ``jax_enable_x64`` is off it
    raises :class:`~mftransformer.solver.errors.ParameterError` before computing anything (a
    float32 run would print a FAIL that looks like the paper's claim failing). ``float64=False``
    (``@experiment(float64=False)``) exempts one whose check does not depend on the precision.
    """
    if fn is None:
        return functools.partial(experiment, float64=float64)
    source = f"{fn.__module__}:{fn.__qualname__}"

    def timed(p, *, key):
        start = time.perf_counter()
        result = fn(p, key=key)
        return dataclasses.replace(result, wall_s=time.perf_counter() - start, source=source)

    timed.__module__, timed.__qualname__ = fn.__module__, fn.__qualname__

    @functools.wraps(fn)
    def wrapper(p, *, key):
        import jax

        from ..companion import results
        from ..solver.errors import ParameterError

        if float64 and not jax.config.jax_enable_x64:
            raise ParameterError(
                f"{fn.__qualname__}: jax_enable_x64 = False; allowed True (chapter experiments "
                "compare with theory in float64: call mft.configure() first)."
            )
        return results.cached_call(timed, p, key=key)

    return wrapper
