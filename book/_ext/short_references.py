"""Sphinx extension: resolve a short Python name (``Heads``) written in a docstring to the one
documented object whose full name ends with it (``mftransformer.solver.attention.Heads``).

Docstrings then read like the maths (``:class:`Heads```) while ``-n`` still fails on any name
that matches no documented object, or more than one.
"""

from sphinx.util.nodes import make_refnode


def _resolve(app, env, node, contnode):
    if node.get("refdomain") != "py":
        return None
    short = node["reftarget"].lstrip("~.").split(".")[-1]
    domain = env.get_domain("py")
    matches = [name for name in domain.objects if name.split(".")[-1] == short]
    if len(matches) != 1:
        return None
    entry = domain.objects[matches[0]]
    return make_refnode(app.builder, node["refdoc"], entry.docname, entry.node_id, contnode,
                        matches[0])


def setup(app):
    app.connect("missing-reference", _resolve)
    return {"parallel_read_safe": True, "parallel_write_safe": True}
