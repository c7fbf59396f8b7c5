"""Sphinx extension: figures at their print size, page-wide ones readable on narrow screens.

A figure is shown at its print width (3.4 in, one column, or 7 in, a page: 326 or 672 CSS px).
A chapter's figure carries that width from ``companion/figures.py``; an image of a saved figure
file (``_static/figures/<id>.png``, the Figures page) that has none is given it here, from the
PNG's own size and resolution (its ``pHYs`` chunk). A column figure fits a phone's
column; a page-wide one shrunk to it would set 8 pt text at about 4 pt. So every image wider
than :data:`WIDE_PX` is wrapped in its own box (class ``mft-wide-figure``): ``static/mft.css``
lets that box scroll sideways below 600 px of viewport, like a long display equation, with the
image at its print width inside it, while the caption keeps to the column. On wider screens the
image still never exceeds the column (tests/pipeline/test_site.py measures both).
"""

import re
import struct
from pathlib import Path

from docutils import nodes

#: An image wider than this (CSS px) is page-wide: it gets its own scrolling box.
WIDE_PX = 400

_PX = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(?:px)?\s*$")


def width_px(image: nodes.image) -> float | None:
    """The width given with an image, in CSS px (None if none is given, or a relative one)."""
    match = _PX.match(str(image.get("width", "")))
    return float(match.group(1)) if match else None


#: CSS px per inch (as companion.figures.CSS_DPI).
CSS_DPI = 96
_SAVED_FIGURE = re.compile(r"(?:^|/)_static/figures/ch\d-[a-z0-9-]+\.png$")


def png_print_width(path: Path) -> float | None:
    """The print width of a PNG in CSS px: its pixel width over its resolution (``pHYs``, in
    pixels per metre); None if the file is not a PNG with a resolution in metres."""
    try:
        data = path.read_bytes()
    except OSError:
        return None
    if data[:8] != b"\x89PNG\r\n\x1a\n" or data[12:16] != b"IHDR":
        return None
    (pixels,) = struct.unpack(">I", data[16:20])
    at = data.find(b"pHYs", 8)
    if at < 0:
        return None
    per_metre, _, unit = struct.unpack(">IIB", data[at + 4 : at + 13])
    if unit != 1 or per_metre == 0:
        return None
    return pixels / (per_metre * 0.0254) * CSS_DPI


def size_saved_figures(app, doctree) -> None:
    """Give an image of a saved figure file its print width, where none is given."""
    for image in doctree.findall(nodes.image):
        uri = str(image.get("uri", ""))
        if "width" in image or not _SAVED_FIGURE.search(uri):
            continue
        if any(c.startswith("sd-") for c in image.get("classes", [])):
            continue  # a card's thumbnail (sphinx-design) keeps the card's size
        candidates = [Path(app.env.relfn2path(uri, app.env.docname)[1]), Path(app.srcdir) / uri]
        path = next((c for c in candidates if c.is_file()), None)
        width = png_print_width(path) if path else None
        if width:
            image["width"] = f"{round(width)}px"


def wrap_wide_images(app, doctree) -> None:
    size_saved_figures(app, doctree)
    for image in list(doctree.findall(nodes.image)):
        width = width_px(image)
        if width is None or width <= WIDE_PX:
            continue
        parent = image.parent
        if isinstance(parent, nodes.container) and "mft-wide-figure" in parent["classes"]:
            continue
        box = nodes.container(classes=["mft-wide-figure"])
        # a linked image (``:target:``) moves with its reference
        moved = parent if isinstance(parent, nodes.reference) and len(parent) == 1 else image
        moved.replace_self(box)
        box += moved


def setup(app):
    app.connect("doctree-read", wrap_wide_images)
    return {"env_version": 1, "parallel_read_safe": True, "parallel_write_safe": True}
