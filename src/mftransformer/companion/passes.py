"""What each experiment computes: the passes of the network it runs, listed per chapter.

A :class:`Pass` is ``count`` forward (or forward+gradient) passes of an ``L``-layer network at sizes
``B, n, d, M`` (``queries`` queries; ``stages`` field evaluations per layer: Heun 2, RK4 4),
``parallel`` of them vmapped in one program. :data:`PASSES` maps a chapter to the function that
lists them from an experiment's name and its parameter section; each function's docstring says
what it counts. The work of one layer is :func:`layer_cost` (:data:`COST_MODEL`), the count that
``benchmarks/machine.py`` times against; :mod:`.estimate` turns passes into seconds and bytes.
"""

import dataclasses
import math

__all__ = [
    "COST_MODEL",
    "layer_cost",
    "Pass",
    "PASSES",
    "forward_passes",
    "adjoint_passes",
    "gradflow_passes",
    "ntk_passes",
    "convergence_passes",
]


COST_MODEL = (
    "Per layer, E = B·M·(n+1)·n score entries (the n atoms and the query attend to the n atoms). "
    "Forward, per entry: 4d+5 arithmetic operations (the logit <A z_k, z_j> and the tilted mean "
    "sum_j w_kj z_j are d multiply-adds each, 4d flops; adding log a_j, the max, the subtraction, "
    "the sum and the normalisation, 5) and one exp; per point and head 4d^2 more (A z_k and "
    "V m_k). Bytes: the weights w (B, M, n+1, n) are written once and read once (2 passes of the "
    "score tensor, a lower bound for dense attention). Forward+gradient (jax.grad through the "
    "checkpointed scan): the forward, its recomputation in the backward, and the backward "
    "(8d+4 per entry: the transposes of the two contractions and of the softmax; 8d^2 per point "
    "and head): 16d+14 operations and 2 exps per entry, 7 passes of the score tensor (2 + 2 + "
    "read w, write and read the softmax's cotangent). Bound = max(flops / matmul peak, bytes / "
    "bandwidth, exps / exp throughput); fraction of bound = bound / measured time."
)


def layer_cost(B, n, d, M, *, itemsize=8, gradient=False, queries=1, tokens=True) -> dict:
    r"""The counted work of one Euler layer on ``B`` contexts of ``n`` atoms and ``queries``
    queries (:data:`COST_MODEL`; ``tokens=False``: only the queries attend, the atoms are keys).

    Score entries :math:`E = B M (n \cdot \mathrm{tokens} + \mathrm{queries})\, n`. Forward: per
    entry :math:`4d + 5` flops and 1 ``exp``, per point and head :math:`4 d^2` flops,
    :math:`2 E \cdot \mathrm{itemsize}` bytes. Forward+gradient through the checkpointed scan:
    :math:`16d + 14` flops and 2 exps per entry, :math:`16 d^2` per point and head,
    :math:`7 E \cdot \mathrm{itemsize}` bytes.

    Returns:
        ``{"entries", "flops", "exps", "bytes"}`` for one layer (multiply by ``L``).
    """
    points = B * M * (n * bool(tokens) + queries)
    entries = points * n
    if gradient:
        per_entry, per_point, exps, passes = 16 * d + 14, 16 * d * d, 2, 7
    else:
        per_entry, per_point, exps, passes = 4 * d + 5, 4 * d * d, 1, 2
    return {
        "entries": entries,
        "flops": entries * per_entry + points * per_point,
        "exps": entries * exps,
        "bytes": entries * passes * itemsize,
    }


@dataclasses.dataclass(frozen=True)
class Pass:
    """``count`` forward (or forward+gradient) passes of an ``L``-layer network, ``parallel`` of
    them vmapped in one program, ``calls`` separate program calls (default ``count/parallel``)."""

    kind: str  # "forward" | "gradient"
    B: int
    n: int
    d: int
    M: int
    L: int
    count: int = 1
    parallel: int = 1
    calls: int | None = None
    queries: int = 1
    tokens: bool = True
    stages: int = 1
    keep: int = 1  # layers of weights alive at once (an unchecked jax.grad keeps all L)

    def cost(self, itemsize=8) -> dict:
        one = layer_cost(
            self.B,
            self.n,
            self.d,
            self.M,
            itemsize=itemsize,
            gradient=self.kind == "gradient",
            queries=self.queries,
            tokens=self.tokens,
        )
        return {k: v * self.L * self.stages * self.count for k, v in one.items()}

    @property
    def n_calls(self) -> int:
        return self.calls if self.calls is not None else math.ceil(self.count / self.parallel)


def _fwd(*size, **kw) -> Pass:
    return Pass("forward", *size, **kw)


def _grad(*size, **kw) -> Pass:
    return Pass("gradient", *size, **kw)


def _train(B, n, d, M, L, steps, *, runs=1, chunk=None, parallel=1) -> Pass:
    """``runs`` gradient descents of ``steps`` steps, a scan of ``chunk`` steps per call."""
    calls = runs // parallel * max(1, steps // (chunk or steps))
    return Pass("gradient", B, n, d, M, L, count=steps * runs, parallel=parallel, calls=calls)


def _jacobian_ntk(B, n, d, M, L, times=1) -> list:
    """``ntk_jacobian``: one vjp (a gradient) and one jvp (two forwards) per output column."""
    return [_grad(B, n, d, M, L, count=B * times), _fwd(B, n, d, M, L, count=2 * B * times)]


def forward_passes(name: str, p) -> list:
    r"""Chapter 1: forward passes only (RK4 4, Heun 2 stages), each repeated on ``keys`` keys
    vmapped together where the section has them; ``flow``: :math:`\mathrm{grid}^2` queries
    through the flow map and its forward-mode Jacobian (two tangents, about three forwards) at
    the book's depth, at every depth of the fold scan and for the RK4 flow; ``stability``: a jvp
    and a vjp (about three forwards) per power iteration, for the heads and the tokens."""
    keys = getattr(p, "keys", 1)
    if name == "trajectories":
        return [_fwd(p.N, p.n, p.d, p.M, p.L, queries=0)]
    if name == "flow":
        return [
            _fwd(1, p.n, 2, p.M, p.L, queries=p.grid**2, count=4),
            *(_fwd(1, p.n, 2, p.M, L, queries=p.grid**2, count=3) for L in p.Ls),
            _fwd(1, p.n, 2, p.M, p.L_flow, queries=p.grid**2, count=3, stages=4),
        ]
    if name == "depth":
        # the keys share one vmapped loop over a traced depth, whose per-layer cost grows with
        # the keys as if each ran alone (measured): counted as separate calls
        stages = {"euler": 1, "heun": 2, "rk4": 4}.values()
        return [_fwd(1, p.n, p.d, p.M, p.L_ref, stages=4, count=keys)] + [
            _fwd(1, p.n, p.d, p.M, L, stages=s, count=keys) for L in p.Ls for s in stages
        ]
    if name == "width":
        draws = p.seeds * keys  # seeds × keys vmapped in one program per width, iid and tied
        return [
            _fwd(1, p.n, p.d, M, L, count=2 * draws, parallel=draws)
            for L in p.Ls
            for M in (p.Ms if L == p.Ls[0] else p.ratio_Ms)
        ]
    if name == "tokens":
        return [_fwd(p.seeds * keys, n, p.d, p.M, p.L) for n in p.ns]
    if name == "stability":
        per_key = 2 * 3 * p.iterations + 2 * (len(p.deltas) + 1)
        return [_fwd(1, p.n, p.d, p.M, p.L, count=per_key * keys, parallel=keys)]
    raise KeyError(name)


def adjoint_passes(name: str, p) -> list:
    """Chapter 2: gradients (exact, continuous adjoints and ``jax.grad`` each one gradient pass),
    finite differences two forwards per direction and step."""
    if name == "field":
        return [_grad(1, p.n, 2, p.M, p.L, queries=0, count=2)]
    if name == "agreement":
        return [
            _grad(p.N, p.n, p.d, p.M, p.L, count=5 + 3 * (p.keys - 1)),
            _grad(p.N, p.n, p.d, p.M, p.L, count=3 + 2 * (p.keys - 1), stages=2),
            _fwd(p.N, p.n, p.d, p.M, p.L, count=2 * p.directions * len(p.eps) * p.keys),
        ]
    if name == "interaction":  # 3 tasks x (the gradient + 3 ablations) per key
        return [_grad(p.N, p.n, p.d, p.M, p.L, count=12 * p.keys)]
    if name == "probe":
        return [_grad(p.N, p.n, p.d, p.M, L, count=p.keys) for L in (*p.Ls, p.L_identity)] + [
            _fwd(p.N, p.n, p.d, p.M + 1, p.L_identity, count=2 * p.probes * p.keys)
        ]
    if name == "landscape":
        return [_grad(p.N, p.n, p.d, p.M, p.L, count=2)]
    if name == "reversal":  # the reversal iterates the field about 15 times per layer
        return [_grad(p.N, p.n, p.d, p.M, L, count=2 * p.keys, stages=8) for L in p.Ls]
    if name == "depth":
        return [_grad(p.N, p.n, p.d, p.M, p.L_ref, stages=4, count=p.keys)] + [
            _grad(p.N, p.n, p.d, p.M, L, count=c * p.keys, stages=s)
            for L in p.Ls
            for c, s in ((2, 1), (1, 2))
        ]
    if name == "memory":  # four programs, compiled and timed `repeats` times; one unchecked
        runs = p.repeats + 1
        return [
            ps
            for L in p.Ls
            for ps in (
                _grad(p.N, p.n, p.d, p.M, L, count=3 * runs),
                _grad(p.N, p.n, p.d, p.M, L, count=runs, keep=L),
            )
        ]
    raise KeyError(name)


def gradflow_passes(name: str, p) -> list:
    """Chapter 3: gradient descents (one gradient per step, chunks of 50 steps per call), each
    repeated on ``keys`` keys vmapped together; the adaptive flow solve of ``energy`` counted as
    many gradients as its finest descent; ``meanfield``: the seeds of each width and key (in
    vmapped batches of ``batch``, one after another), the reference
    network of ``M_ref`` heads and, per width, ``keys`` tracer runs (a gradient of ``M`` heads
    per step)."""
    size = (p.N, p.n, p.d)
    keys = dict(runs=p.keys, parallel=p.keys)
    if name == "energy":
        runs = [_train(*size, p.M, p.L, round(p.T / eta), chunk=50, **keys) for eta in p.etas]
        return runs + [_train(*size, p.M, p.L, round(p.T / min(p.etas)), **keys)]
    if name == "meanfield":
        seeds = p.keys * p.seeds
        batch = min(p.batch or seeds, seeds)
        return [
            *(_train(*size, M, p.L, p.steps, runs=seeds, chunk=50, parallel=batch) for M in p.Ms),
            _train(*size, p.M_ref, p.L, p.steps, chunk=50),
            *(_train(*size, M, p.L, p.steps, chunk=50, **keys) for M in p.Ms),
        ]
    if name == "depth":
        return [_train(*size, p.M, L, p.steps, chunk=50, **keys) for L in p.Ls]
    if name == "stability":
        runs = p.keys * (1 + len(p.deltas))
        return [_train(*size, p.M, p.L, p.steps, runs=runs, parallel=runs, chunk=50)]
    raise KeyError(name)


def ntk_passes(name: str, p) -> list:
    """Chapter 4: the kernels at the silent point are one query attending to the atoms per head
    (``tokens=False``); an LSE test is ``K`` queries over the atoms of a family's laws (about 4
    laws of 4 atoms; continuous laws in closed form, counted alike); ``ntk_jacobian`` as in
    :func:`_jacobian_ntk`; each repeated on ``keys`` keys where the section has them."""
    lse = dict(queries=getattr(p, "K", 1), tokens=False)
    keys = getattr(p, "keys", 1)
    if name == "closed_form":
        return [
            _fwd(p.N, p.n, p.d, p.M, p.L, tokens=False),
            *_jacobian_ntk(p.N, p.n, p.d, p.M, p.L),
        ]
    if name == "lse_families":
        return [_fwd(4, 4, 2, 1, 1, count=2 * 13, **lse)]
    if name == "model_families":
        return [
            _fwd(4, 4, 2, 1, 1, count=15 * keys, **lse),
            _fwd(4, 4, 2, p.M, p.L, count=16 * keys, tokens=False),
            _fwd(2, p.n_sampled, 1, 1, 1, count=keys, **lse),
            _fwd(2, p.n_sampled, 1, p.M, p.L, count=keys, tokens=False),
        ]
    if name == "scan":
        return [
            _fwd(3, 4, 2, 1, 1, count=len(p.ts) * keys, **lse),
            _fwd(3, 4, 2, p.M, p.L, count=len(p.ts) * keys, tokens=False),
        ]
    if name == "empirical_gauss":
        return [_fwd(len(p.sigmas), n, 1, 1, 1, count=p.seeds * keys, **lse) for n in p.ns]
    if name == "mean_field":
        return [_fwd(p.N, p.n, 2, p.nodes**2, 1, tokens=False)] + [
            _fwd(p.N, p.n, 2, 2 * P, 1, count=p.seeds * keys, tokens=False) for P in p.Ps
        ]
    if name == "rank":
        return [_fwd(p.N, p.n, 2, 2 * P, 1, tokens=False) for P in p.Ps]
    raise KeyError(name)


def convergence_passes(name: str, p) -> list:
    """Chapter 5: one gradient descent per run and key (one vmapped scan), the NTK's Jacobian at
    every snapshot; ``stall`` on the BB family (2 contexts of at most 3 atoms, :math:`d = 2`);
    ``width_depth`` the seeds of each :math:`(L, M)` vmapped together."""
    if name == "stall":
        N, n, d = 2, 3, 2
    else:
        N, n, d = p.N, p.n, p.d
    keys = getattr(p, "keys", 1)
    if name in ("injective", "stall"):
        return [
            _train(N, n, d, p.M, p.L, p.steps, runs=keys, parallel=keys),
            *_jacobian_ntk(N, n, d, p.M, p.L, p.snapshots * keys),
        ]
    if name == "sweep":
        runs = len(p.eps) * keys
        return [
            _train(N, n, d, p.M, p.L, p.steps, runs=runs, parallel=runs),
            *_jacobian_ntk(N, n, d, p.M, p.L, p.snapshots * runs),
        ]
    if name == "width_depth":
        configs = [(p.L_width, M) for M in p.Ms] + [(L, p.M_depth) for L in p.Ls]
        return [_train(N, n, d, M, L, p.steps, runs=p.seeds, parallel=p.seeds) for L, M in configs]
    raise KeyError(name)


#: chapter -> ``fn(experiment name, its parameter section) -> [Pass]``
PASSES = {
    "forward": forward_passes,
    "adjoint": adjoint_passes,
    "gradflow": gradflow_passes,
    "ntk": ntk_passes,
    "convergence": convergence_passes,
}
