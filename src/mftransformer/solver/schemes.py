r"""Explicit Runge–Kutta schemes as Butcher tableaux, shared by the forward pass and the adjoint.

Model page, "Forward flow". One step of size :math:`h` of :math:`\dot y = f(c, y)` is

.. math::

    y_i = y + h \sum_{j<i} a_{ij} k_j,\qquad k_i = f(c_i, y_i),\qquad
    y^{+} = y + h \sum_i b_i k_i ,

where :math:`c_i` is the stage's offset as a fraction of the step: the caller maps it to a depth
(smooth heads are sampled at :math:`s + c_i h`; layer-wise heads ignore it, Model: flow). The state
:math:`y` may be any pytree (the continuous adjoint steps the pair :math:`(z, \lambda)` with
:math:`h < 0`).
"""

import equinox as eqx
import jax

__all__ = ["ButcherTableau", "EULER", "HEUN", "RK4", "SCHEMES"]


class ButcherTableau(eqx.Module):
    """An explicit Runge–Kutta scheme: stage offsets ``c``, matrix ``a`` (lower triangular, one
    row per stage, row ``i`` of length ``i``), weights ``b``; ``order`` is the order in :math:`h`.

    >>> HEUN.step(lambda c, y: y, 1.0, 0.5)
    1.625
    """

    name: str = eqx.field(static=True)
    order: int = eqx.field(static=True)
    c: tuple[float, ...] = eqx.field(static=True)
    a: tuple[tuple[float, ...], ...] = eqx.field(static=True)
    b: tuple[float, ...] = eqx.field(static=True)

    def __check_init__(self):
        rows_ok = all(len(row) == i for i, row in enumerate(self.a))
        if not (len(self.c) == len(self.a) == len(self.b) and rows_ok):
            raise ValueError(f"ButcherTableau {self.name!r}: c, a, b do not describe one scheme.")

    @property
    def stages(self) -> int:
        return len(self.c)

    def step(self, f, y, h):
        r""":math:`y + h \sum_i b_i k_i` with the stages :math:`k_i = f(c_i, y_i)`
        (module docstring)."""
        k = []
        for c_i, row in zip(self.c, self.a, strict=True):
            y_i = y
            for a_ij, k_j in zip(row, k, strict=False):
                if a_ij != 0.0:  # skip the zeros of RK4's matrix: no multiply by 0.0
                    y_i = jax.tree_util.tree_map(lambda u, v, w=a_ij: u + h * w * v, y_i, k_j)
            k.append(f(c_i, y_i))
        increment = jax.tree_util.tree_map(
            lambda *ks: sum(b_i * k_i for b_i, k_i in zip(self.b, ks, strict=True)), *k
        )
        return jax.tree_util.tree_map(lambda u, v: u + h * v, y, increment)


EULER = ButcherTableau(name="euler", order=1, c=(0.0,), a=((),), b=(1.0,))
HEUN = ButcherTableau(name="heun", order=2, c=(0.0, 1.0), a=((), (1.0,)), b=(0.5, 0.5))
RK4 = ButcherTableau(
    name="rk4",
    order=4,
    c=(0.0, 0.5, 0.5, 1.0),
    a=((), (0.5,), (0.0, 0.5), (0.0, 0.0, 1.0)),
    b=(1 / 6, 1 / 3, 1 / 3, 1 / 6),
)

#: The explicit schemes by name (``forward(scheme="heun")``).
SCHEMES = {t.name: t for t in (EULER, HEUN, RK4)}
