"""What a chapter page needs beyond the package: ``glue`` that works without the book.

Inside the book (myst-nb installed) :func:`glue` is myst-nb's; elsewhere (Colab, a bare Jupyter)
it stores nothing and shows the value only when ``display=True``, so the same notebook runs
everywhere.
"""

__all__ = ["glue"]

try:
    from myst_nb import glue
except ImportError:  # Colab or plain Jupyter: the page's {glue} references need the book anyway

    def glue(name: str, variable, display: bool = True):
        """Stand-in for ``myst_nb.glue`` when myst-nb is not installed: shows ``variable`` if
        ``display``, stores nothing."""
        if display:
            from IPython.display import display as show

            show(variable)
