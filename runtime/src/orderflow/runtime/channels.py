"""Channel authentication for the HTTP APIs: a sales channel sends its API key as a Bearer
token (`ORDERFLOW_CHANNEL_KEYS`); a missing or unknown key is 401."""

from __future__ import annotations

import hmac
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, HTTPException
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

_bearer = HTTPBearer(auto_error=False, description="The channel's API key.")
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]


def channel_of(keys: dict[str, str]) -> Callable[..., Awaitable[str]]:
    """A dependency answering the name of the channel whose key the request carries."""

    # async, though it never awaits: FastAPI runs a plain function dependency on its
    # threadpool, a thread handoff per request for a few comparisons
    async def authenticate(credentials: Credentials) -> str:
        given = credentials.credentials.encode() if credentials else b""
        found = [name for name, key in keys.items() if hmac.compare_digest(key.encode(), given)]
        if not credentials or not found:
            raise HTTPException(
                401, "a valid channel API key is required", {"WWW-Authenticate": "Bearer"}
            )
        return found[0]

    return authenticate
