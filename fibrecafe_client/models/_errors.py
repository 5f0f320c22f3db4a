"""The gateway's error body, shared by API error responses and ERROR KCIs."""

from __future__ import annotations

from pydantic import Field

from ._base import FibreCafeModel
from ._enums import OpenErrorCode

__all__ = ["GatewayError"]


class GatewayError(FibreCafeModel):
    """``{uuid, code, messages}``: the error body of every 4xx/5xx JSON response and ERROR KCI.

    ``uuid`` identifies this occurrence in the gateway's logs: quote it to Fibre Cafe support.
    All three fields are documented as required; they are optional here so that a partial body
    from a proxy or a newer gateway still maps to a useful error instead of failing.
    """

    uuid: str | None = None
    code: OpenErrorCode | None = None
    messages: list[str] = Field(default_factory=list)
