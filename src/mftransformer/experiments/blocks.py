"""Parameter blocks shared by the chapters' schemas: each field is declared once, here.

A chapter's experiment section inherits the blocks it uses (``class TokensParams(Network,
HeadInit)``), so a parameter file keeps flat keys (``sigma_A``, not ``heads.sigma_A``) and every
section that draws heads documents and bounds ``sigma_A`` the same way. A section whose field
means something else (a mixture's ``sigma_A``) declares its own.

A block's cross-field rules (``rules(self, where)``) run when a parameter file is loaded
(:func:`~mftransformer.experiments.schema.check_rules`), so a broken one is refused before the
run, not ten seconds into it.
"""

import dataclasses

from .schema import param

__all__ = [
    "NTKBudget",
    "Chapter",
    "Network",
    "PairedNetwork",
    "HeadInit",
    "SilentInit",
    "Readout",
    "Contexts",
    "Repeated",
]


@dataclasses.dataclass(frozen=True)
class Chapter:
    """The root of a chapter's schema: its seed, from which every key of the chapter is derived."""

    seed: int = param("root of every random draw of the chapter", ge=0)


@dataclasses.dataclass(frozen=True)
class Repeated:
    """An experiment repeated on independent keys: its rate and ratio checks pass on the median,
    with every key inside the claim's ``key_band`` (:meth:`~.checks.Claim.check_keys`)."""

    keys: int = param(
        "independent repetitions (random keys) of the experiment; checks use the median", ge=5
    )


@dataclasses.dataclass(frozen=True)
class Network:
    """Depth and width of the network: ``L`` layers of ``M`` heads."""

    L: int = param("layers", ge=1)
    M: int = param("heads per layer", ge=1)


@dataclasses.dataclass(frozen=True)
class PairedNetwork:
    """A network of silent pairs: ``L`` layers of an even number ``M`` of heads."""

    L: int = param("layers", ge=1)
    M: int = param("heads per layer (even: mirrored pairs)", ge=2, even=True)


@dataclasses.dataclass(frozen=True)
class HeadInit:
    r"""Generic head initialisation: :math:`A, V` with entries :math:`\mathcal N(0, \sigma^2/d)`."""

    sigma_A: float = param("head scale: entries of A ~ N(0, sigma_A^2/d)", ge=0)
    sigma_V: float = param("head scale: entries of V ~ N(0, sigma_V^2/d)", ge=0)


@dataclasses.dataclass(frozen=True)
class SilentInit:
    r"""Silent initialisation (mirrored pairs, :math:`F = 0`), entries
    :math:`\mathcal N(0, \sigma^2/d)`."""

    sigma_A: float = param("silent init: entries of A ~ N(0, sigma_A^2/d)", gt=0)
    sigma_V: float = param("silent init: entries of V ~ N(0, sigma_V^2/d)", gt=0)


@dataclasses.dataclass(frozen=True)
class Readout:
    r"""Task C: the common query ``xi_0`` and the readout ``W`` (:math:`d_{\mathrm{out}} = 1`)."""

    xi0: tuple[float, ...] = param("the common query xi_0 (d numbers)")
    W: tuple[float, ...] = param("the readout W (d numbers, d_out = 1)")

    def rules(self, where):
        """``xi0`` and ``W`` have ``d`` entries each (``d`` of the section when it has one)."""
        d = getattr(self, "d", len(self.xi0))
        if len(self.xi0) != d or len(self.W) != d:
            raise ValueError(
                f"{where}: xi0 has {len(self.xi0)} and W has {len(self.W)} entries; allowed "
                f"d = {d} each (one number per token dimension)."
            )


@dataclasses.dataclass(frozen=True)
class Contexts:
    r""":math:`N` contexts of :math:`n` atoms in :math:`\mathbb R^d`: atoms
    :math:`\mathcal N(0, \mathrm{scale}^2 I)`, Dirichlet(1) weights."""

    N: int = param("number of contexts (inputs)", ge=1)
    n: int = param("atoms per context, ~ N(0, scale^2 I) with Dirichlet(1) weights", ge=1)
    d: int = param("token dimension", ge=1)
    scale: float = param("standard deviation of the atoms", gt=0)


@dataclasses.dataclass(frozen=True)
class NTKBudget:
    """A section whose experiment forms the NTK of :math:`N` contexts by Jacobian: its memory
    estimate is checked when the parameters load, before anything is allocated."""

    def rules(self, where):
        """The Jacobian's estimated memory fits the NTK budget (one column at least)."""
        from ..solver.ntk import MAX_BYTES, ntk_jacobian_bytes  # the estimate's one home

        fixed, per_column = ntk_jacobian_bytes(self.N, self.n, self.d, 1, self.L, self.M)
        if fixed + per_column > MAX_BYTES:
            raise ValueError(
                f"{where}: the NTK of N = {self.N}, n = {self.n}, L = {self.L}, M = {self.M} "
                f"needs an estimated {(fixed + per_column) / 2**30:.2f} GiB; allowed "
                f"{MAX_BYTES / 2**30:.2f} GiB. Reduce N, n or M."
            )
