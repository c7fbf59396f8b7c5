"""Sphinx extension: readable shapes and a page layout that keeps to its column.

- Shape annotations (``jaxtyping.Float[jaxlib._jax.Array, 'B nk d']``, which reach the API page
  through signatures and the docstrings that dataclasses and ``eqx.Module`` write for classes
  without one) read as ``float array (B, nk, d)``; bare ``jaxlib._jax.Array`` as ``array``.
- ``static/mft.css``: long display equations, code, check lines and BibTeX scroll or wrap inside
  their own box; figures show at their print width and never exceed the column.
"""

import re
from pathlib import Path

_KINDS = {"Float": "float", "Int": "integer", "Bool": "boolean", "Real": "real",
          "Shaped": "", "Key": "key", "Num": "numeric", "Complex": "complex", "UInt": "unsigned"}
_SHAPED = re.compile(
    r"(?:jaxtyping\.)?(Float|Int|Bool|Real|Shaped|Key|Num|Complex|UInt)"
    r"\[\s*(?:[\w.]+\.)?(?:Array|ndarray|ArrayLike|ArrayImpl)\s*,\s*['\"]([^'\"]*)['\"]\s*\]"
)
_BARE = re.compile(r"\b(?:jaxlib\._jax|jaxlib\.xla_extension|jax)\.(?:Array|ArrayImpl)\b")


def readable(text: str) -> str:
    """``text`` with every shape annotation written for a reader."""
    if not text:
        return text

    def shape(match):
        kind, dims = _KINDS[match.group(1)], match.group(2).split()
        what = f"{kind} array" if kind else "array"
        if not dims:
            return f"{kind} scalar" if kind else "scalar"
        return f"{what} ({', '.join(d.lstrip('*#') for d in dims)})"

    return _BARE.sub("array", _SHAPED.sub(shape, text))


def _signature(app, what, name, obj, options, signature, return_annotation):
    return readable(signature), readable(return_annotation)


_TYPE_FIELD = re.compile(r"^(\s*:(?:type|rtype)[^:]*:\s*)(.+)$")


def _docstring(app, what, name, obj, options, lines):
    out = []
    for line in lines:
        new = readable(line)
        field = _TYPE_FIELD.match(new)
        if new != line and field:  # a shape is text for the reader, not a class to link
            new = f"{field.group(1)}*{field.group(2).strip()}*"
        out.append(new)
    lines[:] = out


def _static(app):
    app.config.html_static_path.append(str(Path(__file__).with_name("static")))


def setup(app):
    app.connect("autodoc-process-signature", _signature)
    app.connect("autodoc-process-docstring", _docstring)
    app.connect("builder-inited", _static)
    app.add_css_file("mft.css")
    return {"parallel_read_safe": True, "parallel_write_safe": True}
