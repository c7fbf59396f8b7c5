"""The numerical core: the mean-field transformer as a library (arrays in, results out).

It imports nothing from :mod:`mftransformer.companion` or :mod:`mftransformer.experiments`
(a test parses the imports). Dependencies point one way::

    _typing, errors -> measures -> attention -> forward -> adjoint -> {gradflow, ntk} -> tasks
"""
