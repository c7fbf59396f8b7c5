"""How a chapter's parameter schema declares its fields: :func:`param` (doc and allowed range).

The schemas (``experiments/<chapter>/params.py``) import only this module and
:mod:`~mftransformer.experiments.blocks`; :mod:`mftransformer.companion.params` imports the schemas
and validates a parameter file against them. So the dependency points one way.
"""

import dataclasses

__all__ = ["param"]


def param(doc: str, *, ge=None, gt=None, le=None, lt=None, choices=None):
    """Declare a parameter field: its one-line ``doc`` and its allowed range (bounds apply to
    every element of a tuple)."""
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices}
    return dataclasses.field(metadata=meta)
