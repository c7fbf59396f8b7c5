"""The numerical core: the mean-field transformer as a library (arrays in, results out).

It imports nothing from :mod:`mftransformer.companion` or :mod:`mftransformer.experiments`
(a test parses the imports). Dependencies point one way::

    types, errors, validate -> measures -> laws -> heads -> streaming, sharding -> attention
      -> schemes -> forward -> risk -> adjoint -> gradflow, diagnostics, distances
      -> ntk, lse_test, lazy, families -> tasks

Checkpointed training runs (files) live in :mod:`mftransformer.companion.store`.
"""
