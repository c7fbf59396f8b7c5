"""How a chapter's parameter schema declares its fields: :func:`param` (doc and allowed range).

The schemas (``experiments/<chapter>/params.py``) import only this module and
:mod:`~mftransformer.experiments.blocks`; :mod:`mftransformer.companion.params` imports the schemas
and validates a parameter file against them. So the dependency points one way.

Cross-field rules live in the schema too: a section class (or a block it inherits) may define
``rules(self, where)``, raising ``ValueError`` with a message in the format
``<where>: <key> = <value>; allowed <range>. <fix>`` (standard library only, like the schemas);
the loader runs every ``rules`` of the section's classes (:func:`check_rules`) before anything is
computed and raises the message as a ``ParameterError``.
"""

import dataclasses

__all__ = ["param", "check_rules"]


def param(doc: str, *, ge=None, gt=None, le=None, lt=None, choices=None, even: bool = False):
    """Declare a parameter field: its one-line ``doc`` and its allowed range (bounds and
    ``even`` apply to every element of a tuple)."""
    meta = {"doc": doc, "ge": ge, "gt": gt, "le": le, "lt": lt, "choices": choices, "even": even}
    return dataclasses.field(metadata=meta)


def check_rules(values, where: str) -> None:
    """Run the cross-field ``rules(self, where)`` of every class of ``values`` (its own and
    those of the blocks it inherits), most derived last."""
    for cls in reversed(type(values).__mro__):
        rule = cls.__dict__.get("rules")
        if callable(rule):
            rule(values, where)
