"""Serves the four pages and their static files from the package: no CDN, no build step.

Each page is one HTML file that loads ``/static/common.css`` and its own script; the scripts
talk only to the public REST and board APIs, so the pages work the same against an embedded
``mcburger run`` and a distributed ``mcburger serve api`` / ``board``.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Collection
from importlib import resources
from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

STATIC = Path(str(resources.files("mcburger.entrypoints.web").joinpath("static")))
PAGES = {"/": "kiosk.html", "/board/": "board.html", "/kitchen/": "kitchen.html",
         "/analytics/": "analytics.html"}

def _page(file: str) -> Callable[[], Awaitable[FileResponse]]:
    async def serve() -> FileResponse:  # no parameters: nothing from the request picks a file
        # no-cache: a screen left open for days must pick up a new version at its next reload
        return FileResponse(STATIC / file, media_type="text/html",
                            headers={"Cache-Control": "no-cache"})
    return serve


def mount(app: FastAPI, only: Collection[str] | None = None) -> None:
    """Add the pages (those of ``PAGES`` whose path is in ``only``, when given) and ``/static``
    to ``app``."""
    router = APIRouter(include_in_schema=False)
    for path, file in PAGES.items():
        if only is None or path in only:
            router.add_api_route(path, _page(file), methods=["GET"],
                                 name=file.removesuffix(".html"))
    app.include_router(router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
