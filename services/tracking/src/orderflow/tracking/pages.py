"""The web pages: the customer tracking page at `/`, the ops dashboard at `/ops`, and their few
static files, served from the package (no front-end build step, nothing vendored)."""

from __future__ import annotations

from importlib.resources import files

from fastapi import APIRouter, HTTPException
from fastapi.responses import HTMLResponse, Response

_STATIC = files("orderflow.tracking") / "static"
_TYPES = {".css": "text/css", ".js": "text/javascript", ".html": "text/html"}
_FILES = ("style.css", "track.js", "ops.js", "charts.js")


def _read(name: str) -> str:
    return (_STATIC / name).read_text(encoding="utf-8")


def pages() -> APIRouter:
    router = APIRouter(tags=["pages"], include_in_schema=False)

    @router.get("/", response_class=HTMLResponse)
    def tracking_page() -> str:
        return _read("track.html")

    @router.get("/ops", response_class=HTMLResponse)
    def ops_dashboard() -> str:
        return _read("ops.html")

    @router.get("/static/{name}")
    def static(name: str) -> Response:
        if name not in _FILES:
            raise HTTPException(404, "no such file")
        media = _TYPES["." + name.rpartition(".")[2]]
        return Response(_read(name), media_type=media, headers={"Cache-Control": "max-age=60"})

    return router
