r"""Heads and batch sharded over devices: a ``jax.sharding.Mesh`` with axes ``("batch", "heads")``.

The field of one layer is a sum over heads and independent across contexts,

.. math::

    F(z, \mu_b) = \frac1M \sum_{m=1}^{M} V_m\, m_{\mu_b}(A_m z)
      = \frac1M \sum_{p} \sum_{m \in \mathcal M_p} V_m\, m_{\mu_b}(A_m z),

so a device of the mesh holds the contexts :math:`b` of its ``batch`` shard and the heads
:math:`\mathcal M_p` of its ``heads`` shard, computes its partial head sum (still divided by the
*true* :math:`M`), and the head sum is one collective, a ``psum`` over ``"heads"`` (:func:`sharded`,
a ``shard_map``). The head gradients :math:`\nabla_\theta G` are per head and summed over contexts:
a ``psum`` over ``"batch"``. Inputs are placed with ``NamedSharding`` (:func:`place`).

Choice of the mesh (:func:`resolve_mesh`), the keyword ``mesh`` of ``forward``,
``cot_gradient``, the adjoints and ``train``:

* ``None`` (automatic): with one device, no mesh. With :math:`D > 1` devices, the factorisation
  :math:`D' = b h` with :math:`b \mid B`, :math:`h \mid M` and :math:`D' \le D` that uses the most
  devices, ties broken towards more head shards (the head sum is then the only collective of the
  forward pass); it never fails, and uses fewer devices (down to one) when no factorisation of
  :math:`D` divides.
* ``"off"``: no mesh (one device).
* a :class:`~jax.sharding.Mesh` with axes ``"batch"`` and ``"heads"``: used as given; one that
  does not divide :math:`B` or :math:`M` raises :class:`ParameterError` naming the sizes and the
  device count. No padding: padding the heads would need :math:`V = 0` heads and the true :math:`M`
  in :math:`1/M`, padding the batch zero-weight contexts; an error was chosen as the plainer
  contract.
"""

import jax
import numpy as np
from jax.sharding import AxisType, Mesh, NamedSharding, PartitionSpec

from .errors import ParameterError, is_traced

__all__ = ["AXES", "resolve_mesh", "auto_mesh", "sharded", "place"]

#: The mesh axes (contexts, heads).
AXES = ("batch", "heads")


def auto_mesh(B: int, M: int, devices=None) -> Mesh | None:
    """The automatic mesh for :math:`B` contexts and :math:`M` heads (module docstring); None if it
    would hold one device."""
    devices = list(jax.devices() if devices is None else devices)
    best = (1, 1)
    for b in range(1, len(devices) + 1):
        for h in range(1, len(devices) // b + 1):
            if B % b == 0 and M % h == 0 and (b * h, h) > (best[0] * best[1], best[1]):
                best = (b, h)
    b, h = best
    if b * h == 1:
        return None
    grid = np.array(devices[: b * h]).reshape(b, h)
    return Mesh(grid, AXES, axis_types=(AxisType.Auto,) * len(AXES))


def resolve_mesh(mesh, B: int, M: int, where: str = "forward") -> Mesh | None:
    """The mesh to use for :math:`B` contexts and :math:`M` heads: None (one device) or a checked
    Mesh.

    Args: ``mesh`` None (automatic), ``"off"`` or a :class:`~jax.sharding.Mesh` with axes
    ``("batch", "heads")``.

    Raises:
        ParameterError: another value, other axis names, or axis sizes that do not divide
            :math:`B` and :math:`M` (names the sizes and the device count).
    """
    if mesh is None:
        return auto_mesh(B, M) if len(jax.devices()) > 1 else None
    if isinstance(mesh, str) and mesh == "off":
        return None
    if not isinstance(mesh, Mesh):
        raise ParameterError(
            f"{where}: mesh = {mesh!r}; allowed None (automatic), 'off' or a jax.sharding.Mesh "
            f"with axes {AXES}."
        )
    if set(mesh.axis_names) != set(AXES):
        raise ParameterError(
            f"{where}: mesh has axes {tuple(mesh.axis_names)}; allowed axes {AXES} (use "
            "jax.make_mesh((b, h), ('batch', 'heads')))."
        )
    b, h = mesh.shape["batch"], mesh.shape["heads"]
    if B % b or M % h:
        raise ParameterError(
            f"{where}: mesh of {mesh.size} devices has batch = {b}, heads = {h}, but B = {B} "
            f"contexts and M = {M} heads; allowed a batch size dividing B and a heads size "
            "dividing M (or mesh = None: the automatic choice uses the devices that divide)."
        )
    if mesh.size == 1:
        return None
    # shardings as annotations (Auto), not types: the kernels' einsums then need no out_sharding
    return Mesh(mesh.devices, mesh.axis_names, axis_types=(AxisType.Auto,) * len(AXES))


def sharded(mesh: Mesh | None, fn, heads_args, batch_args, outputs: tuple[int, int]):
    """``fn(*heads_args, *batch_args) -> (per_context, per_head)`` on the mesh's shards.

    ``heads_args`` have the heads on axis 0 (float64 array (M, d, d)), ``batch_args`` the contexts
    on axis 0. ``fn`` returns two tuples, of ``outputs[0]`` and ``outputs[1]`` arrays: outputs per
    context (a partial sum over the local heads, summed by one ``psum`` over ``"heads"``) and
    outputs per head (a partial sum over the local contexts, summed by one ``psum`` over
    ``"batch"``). Without a mesh, ``fn`` itself.
    """
    if mesh is None:
        return fn(*heads_args, *batch_args)
    P = PartitionSpec
    in_specs = (*(P("heads") for _ in heads_args), *(P("batch") for _ in batch_args))

    def local(*args):
        per_context, per_head = fn(*args)
        per_context = jax.lax.psum(per_context, "heads") if per_context else ()
        per_head = jax.lax.psum(per_head, "batch") if per_head else ()
        return per_context, per_head

    out_specs = (tuple(P("batch") for _ in range(outputs[0])), (P("heads"),) * outputs[1])
    run = jax.shard_map(local, mesh=mesh, in_specs=in_specs, out_specs=out_specs)
    return run(*heads_args, *batch_args)


def place(mesh: Mesh | None, theta, batched):
    """Put ``theta`` (heads on axis −3: float64 array (L, M, d, d) or (M, d, d)) and
    the pytree ``batched`` (contexts on axis 0 of every array; None leaves kept) on the mesh with
    ``NamedSharding``; unchanged without a mesh or while traced (``shard_map`` then places)."""
    if mesh is None or is_traced(jax.tree_util.tree_leaves(theta)[0]):
        return theta, batched

    def heads(v):
        spec = (None,) * (v.ndim - 3) + ("heads",)
        return jax.device_put(v, NamedSharding(mesh, PartitionSpec(*spec)))

    def batch(v):
        if not hasattr(v, "ndim") or v.ndim == 0:
            return v
        return jax.device_put(v, NamedSharding(mesh, PartitionSpec("batch")))

    return jax.tree_util.tree_map(heads, theta), jax.tree_util.tree_map(batch, batched)
