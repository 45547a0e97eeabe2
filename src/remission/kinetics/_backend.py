"""Array back-ends: NumPy always; JAX only when it is installed (never required).

The model math is written against an array namespace ``xp`` (``numpy`` or ``jax.numpy``) using
only functional operations (no in-place updates), so the same code runs on either. JAX is not a
dependency of remission: :func:`get_backend` imports it lazily and raises a clear error when it is
absent. The JAX path is import-guarded and is not exercised by the test-suite where JAX is not
installed.
"""

from __future__ import annotations

from types import ModuleType
from typing import Literal

from remission.errors import InvalidInputError, Problem

Backend = Literal["numpy", "jax"]
BACKENDS: tuple[str, ...] = ("numpy", "jax")


def get_backend(name: str) -> ModuleType:
    """Return the array namespace for ``name`` (``"numpy"`` or ``"jax"``).

    Examples
    --------
    >>> get_backend("numpy").__name__
    'numpy'
    """
    if name == "numpy":
        import numpy

        return numpy
    if name == "jax":
        try:  # pragma: no cover - JAX is optional and not installed in CI
            import jax

            jax.config.update("jax_enable_x64", True)
            import jax.numpy as jnp
        except ImportError:
            raise InvalidInputError(
                [
                    Problem(
                        None,
                        "backend",
                        name,
                        "JAX is not installed; use backend='numpy' or pip install jax",
                    )
                ]
            ) from None
        return jnp  # pragma: no cover
    raise InvalidInputError([Problem(None, "backend", name, f"expected one of {', '.join(BACKENDS)}")])


def has_jax() -> bool:
    """Whether the optional JAX back-end can be imported."""
    import importlib.util

    return importlib.util.find_spec("jax") is not None
