r"""The lazy (linearised) theory of training from the NTK at initialisation (lazy theory).

For task C (:math:`R = |r|^2/2N`) near :math:`\nu_0` the residual evolves as
:math:`\dot r = -K r/N` with the NTK :math:`K = K(\nu_0) = \sum_k \lambda_k u_k u_k^\top`, and
gradient descent of step :math:`\eta` as :math:`r \leftarrow (I - \eta K/N)\, r`, so each mode
decays on its own:

.. math::

    R_{\rm lin}(t) = \frac1{2N}\sum_k \Big(1 - \frac{\eta\lambda_k}N\Big)^{2t/\eta}
        (u_k^\top r_0)^2 ,\qquad
    R^{\rm lin}_\infty = \frac{|P_{\ker K}\, r_0|^2}{2N}.

:func:`gd_rate` is the decay rate of one mode, :func:`lazy_prediction` the whole curve,
:func:`plateau` the level where training stalls when :math:`K` is singular.
"""

import numpy as np

from .errors import ParameterError, check_positive
from .validate import as_float, check_sizes

__all__ = ["gd_rate", "lazy_prediction", "plateau"]


def gd_rate(lam, *, eta: float, N: int):
    r"""Decay rate of :math:`R` along a mode of eigenvalue :math:`\lambda` under gradient descent.

    .. math::

        -\frac2\eta\log\Big(1 - \frac{\eta\lambda}N\Big)
        \xrightarrow[\eta\to0]{} \frac{2\lambda}N

    Args:
        lam: eigenvalue(s) :math:`\lambda` of the NTK (a float or an array).
        eta: gradient-descent step :math:`\eta`; N: number of inputs (the :math:`1/N` of the
            risk).

    Returns:
        The rate, of the shape of ``lam`` (a NumPy float or array).

    Raises:
        ParameterError: :math:`\eta \lambda / N \ge 1` (the mode does not decay monotonically).

    >>> round(float(gd_rate(0.5, eta=0.1, N=4)), 4)  # 2λ/N = 0.25, plus O(η)
    0.2516
    """
    lam = np.asarray(as_float(lam, "gd_rate", "lam"), float)
    _check_step("gd_rate", eta, N)
    if np.any(eta * lam / N >= 1):
        raise ParameterError(
            f"gd_rate: eta * lambda / N = {float(np.max(eta * lam / N)):.3g}; allowed < 1. "
            f"Lower eta below N / lambda_max = {N / float(np.max(lam)):.3g}."
        )
    return -2.0 * np.log1p(-eta * lam / N) / eta


def lazy_prediction(K, r0, t, *, eta: float | None, N: int):
    r"""The linearised risk :math:`R_{\rm lin}(t)` from :math:`K(\nu_0)` and :math:`r_0` (lazy
    theory).

    .. math::

        R_{\rm lin}(t) = \frac1{2N}\sum_k \Big(1 - \frac{\eta\lambda_k}N\Big)^{2t/\eta}
            (u_k^\top r_0)^2

    (:math:`e^{-2\lambda_k t/N}` for the flow, ``eta = None``), with :math:`\lambda_k, u_k` the
    eigenpairs of :math:`(K + K^\top)/2`, negative round-off eigenvalues set to 0.

    Args:
        K: the NTK, float64 array (N d_out, N d_out); r0: initial residual, float64 array
            (N d_out,); t: times, float64 array (T,).
        eta: gradient-descent step, or None for the flow.
        N: number of inputs (the :math:`1/N` of the risk).

    Returns:
        :math:`R_{\rm lin}` at each time, float64 array (T,).

    Raises:
        ParameterError: shapes of ``K`` and ``r0`` that do not match.
    """
    K, r0, t = (
        np.asarray(as_float(v, "lazy_prediction", n), float)
        for v, n in ((K, "K"), (r0, "r0"), (t, "t"))
    )
    r0 = r0.reshape(-1)
    _check_step("lazy_prediction", eta, N)
    if K.shape != (r0.size, r0.size):
        raise ParameterError(
            f"lazy_prediction: K has shape {K.shape} and r0 has {r0.size} entries; allowed K "
            f"({r0.size}, {r0.size})."
        )
    lam, U = np.linalg.eigh(0.5 * (K + K.T))
    lam = np.clip(lam, 0.0, None)
    if eta is None:
        rates = 2.0 * lam / N
    else:
        # a mode with ηλ/N ≥ 1 is not a decay; clipped so that its factor is ~0, not NaN
        rates = -2.0 * np.log1p(-np.minimum(eta * lam / N, 1 - 1e-300)) / eta
    coeff = (U.T @ r0) ** 2
    return np.exp(-np.outer(t, rates)) @ coeff / (2 * N)


def plateau(K, r0, *, N: int, null=None):
    r"""Stall level of the lazy dynamics and the unit null vector (lazy theory, "Stall").

    .. math::

        R^{\rm lin}_\infty = \frac{|P_{\ker K}\, r_0|^2}{2N} = \frac{(c^\top r_0)^2}{2N},
        \qquad K c = 0,\ |c| = 1

    (one null direction). With ``null`` (a predicted combination :math:`c`) the level uses
    :math:`c/|c|`; otherwise the eigenvector of the smallest eigenvalue of
    :math:`(K + K^\top)/2`.

    Args:
        K: the NTK, float64 array (N d_out, N d_out); r0: initial residual, float64 array
            (N d_out,).
        N: number of inputs; null: the predicted null combination, or None.

    Returns:
        ``(level, c)``: a float and the unit vector, float64 array (N d_out,).

    Raises:
        ParameterError: ``null`` of the wrong length or zero.
    """
    r0 = np.asarray(as_float(r0, "plateau", "r0"), float).reshape(-1)
    K = np.asarray(as_float(K, "plateau", "K", ndim=2), float)
    check_sizes("plateau", N=N)
    if K.shape != (r0.size, r0.size):
        raise ParameterError(
            f"plateau: K has shape {K.shape} and r0 has {r0.size} entries; allowed K "
            f"({r0.size}, {r0.size})."
        )
    if null is None:
        _, U = np.linalg.eigh(0.5 * (K + K.T))
        c = U[:, 0]
    else:
        c = np.asarray(as_float(null, "plateau", "null"), float).reshape(-1)
        if c.size != r0.size or not np.any(c):
            raise ParameterError(
                f"plateau: null = {tuple(np.asarray(null).tolist())}; allowed a nonzero vector of "
                f"length {r0.size} (one entry per output)."
            )
        c = c / np.linalg.norm(c)
    return float((c @ r0) ** 2 / (2 * N)), c


def _check_step(where, eta, N):
    check_sizes(where, N=N)
    if eta is not None:
        check_positive(where, "eta", eta)
