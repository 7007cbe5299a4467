"""The base of every contract model: frozen, strict, no unknown fields."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    # strict: "2" is not a quantity and 2.0 is not an id; extra="forbid": a misspelt field is an
    # error, not silently dropped data; frozen: an event, once made, never changes.
    model_config = ConfigDict(frozen=True, strict=True, extra="forbid", str_max_length=2000)
