"""`/docs`: Swagger UI over `/openapi.json`, served from this server's own static files.

FastAPI's own docs page loads Swagger UI from a CDN and starts it with an inline script; this
one loads the vendored copy in `web/static/swagger-ui/` and starts it from
`web/static/docs.js`, so it works without internet under a CSP without 'unsafe-inline'.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles

WEB = Path(__file__).resolve().parent
STATIC_DIR = WEB / "static"
DOCS_PAGE = (WEB / "templates" / "docs.html").read_text(encoding="utf-8")

router = APIRouter(include_in_schema=False)


@router.get("/docs", response_class=HTMLResponse)
async def docs() -> HTMLResponse:
    """The API's interactive documentation."""
    return HTMLResponse(DOCS_PAGE)


def static_files() -> StaticFiles:
    """The app serving `web/static/` (mounted at `/static`)."""
    return StaticFiles(directory=STATIC_DIR)
