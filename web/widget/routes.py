"""`GET /widget.js`: the chat widget a site embeds with

    <script src="https://help.example.com/widget.js" data-inbox="support" async></script>

Plain JavaScript, no build step, no request to anyone but this server; it may be loaded by
any page (the socket checks the page's Origin against the inbox's allow-list)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import Response

router = APIRouter(include_in_schema=False)

WIDGET = Path(__file__).resolve().parent.parent / "static" / "widget.js"


def embed_snippet(public_url: str, slug: str) -> str:
    """The tag a site adds to its pages to show the chat of inbox `slug`."""
    base = public_url.rstrip("/") or "https://help.example.com"
    return f'<script src="{base}/widget.js" data-inbox="{slug}" async></script>'


@router.get("/widget.js")
async def widget_js() -> Response:
    """The widget's script (cached for an hour; other sites may load it)."""
    return Response(WIDGET.read_bytes(), media_type="text/javascript; charset=utf-8",
                    headers={"Cache-Control": "public, max-age=3600",
                             "Cross-Origin-Resource-Policy": "cross-origin"})
