"""JSON responses written by the standard library's C encoder.

A patient's timeline is ~10^5 plain values (text, numbers, dates). FastAPI serialises a ``dict``
result through pydantic with type ``Any``, which inspects every value on its own: ≈ 55 ms for
one demo timeline, against ≈ 3 ms for :func:`json.dumps` (bench/api_load.py, docs/performance.md).
:class:`JSONRoute` makes every API route's ``dict``/``list`` result go straight to
:class:`DirectJSONResponse`; the declared return type still documents the route in OpenAPI.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import pydantic_core
from fastapi.routing import APIRoute
from starlette.responses import JSONResponse, Response


def _encode_other(value: Any) -> Any:
    """What :func:`json.dumps` cannot write itself, as pydantic writes it in JSON mode."""
    if isinstance(value, datetime | date | time):
        return value.isoformat()
    if isinstance(value, Decimal | UUID):
        return str(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return list(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


class DirectJSONResponse(JSONResponse):
    """JSON via :func:`json.dumps`; a non-finite float (which plain JSON cannot hold) sends the
    whole body through pydantic instead, which writes it as ``null`` as FastAPI would."""

    def render(self, content: Any) -> bytes:
        try:
            text = json.dumps(
                content, ensure_ascii=False, allow_nan=False, separators=(",", ":"), default=_encode_other
            )
        except ValueError:
            return pydantic_core.to_json(content)
        return text.encode("utf-8")


def _direct(result: Any, kwargs: dict[str, Any], status_code: int | None) -> Any:
    """``result`` as a :class:`DirectJSONResponse` with the route's status code and whatever the
    endpoint set on its injected response (headers such as ``ETag``, a status code)."""
    if not isinstance(result, dict | list):
        return result
    injected = next((v for v in kwargs.values() if isinstance(v, Response)), None)
    status = (injected.status_code if injected is not None else None) or status_code or 200
    response = DirectJSONResponse(result, status_code=status)
    if injected is not None:
        response.headers.raw.extend(injected.headers.raw)
    return response


def direct_json(endpoint: Callable[..., Any], status_code: int | None = None) -> Callable[..., Any]:
    """Wrap an endpoint so that a ``dict``/``list`` result is answered by :class:`DirectJSONResponse`
    (FastAPI returns a :class:`Response` as it is). The signature is kept for FastAPI."""
    if inspect.iscoroutinefunction(endpoint):

        @functools.wraps(endpoint)
        async def wrapped_async(*args: Any, **kwargs: Any) -> Any:
            return _direct(await endpoint(*args, **kwargs), kwargs, status_code)

        return wrapped_async

    @functools.wraps(endpoint)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        return _direct(endpoint(*args, **kwargs), kwargs, status_code)

    return wrapped


class JSONRoute(APIRoute):
    """An API route whose ``dict``/``list`` results skip FastAPI's per-value serialisation.

    Headers a route sets on its injected :class:`Response` are carried over to the answer."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        super().__init__(path, direct_json(endpoint, kwargs.get("status_code")), **kwargs)


__all__ = ["DirectJSONResponse", "JSONRoute", "Response", "direct_json"]
