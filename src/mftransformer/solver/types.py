"""jaxtyping aliases in the paper's letters: B batch, n tokens, d dimension, M heads, L layers."""

from jaxtyping import Array, Float, Int

__all__ = ["Array", "Float", "Int", "Scalar"]

Scalar = Float[Array, ""]
