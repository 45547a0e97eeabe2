"""remission — CAR-T cell therapy in autoimmune disease: records, indices, endpoints, kinetics.

The public Python API is small: :func:`score` (the CLI's ``remission score``) and
:class:`InvalidInputError`. Heavy modules load lazily so that ``import remission`` is instant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from remission.errors import InvalidInputError

__version__ = "0.1.0"
__all__ = ["InvalidInputError", "__version__", "score"]

if TYPE_CHECKING:
    from remission.api import score


def __getattr__(name: str) -> Any:
    if name == "score":
        from remission.api import score

        return score
    raise AttributeError(name)
