"""What an approval pack may load while it is laid out: its own static files and data URLs.

WeasyPrint fetches every URL a document names (images, stylesheets, fonts). A pack holds
text people typed, so the fetcher refuses the network and any file outside the static
directory; a refused URL is recorded and left out of the document. No Django import.
"""

from __future__ import annotations

import mimetypes
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse


class FetchRefused(ValueError):
    """The pack named a URL it may not load."""


def static_fetcher(
    static_root: Path, refused: list[str] | None = None
) -> Callable[..., dict[str, Any]]:
    """A WeasyPrint ``url_fetcher`` serving ``data:`` URLs and files under ``static_root``.

    Every refused URL is appended to ``refused`` (when given) before the refusal."""
    root = static_root.resolve()

    def fetch(url: str, timeout: float = 10, ssl_context: Any = None, **_: Any) -> dict[str, Any]:
        parsed = urlparse(url)
        if parsed.scheme == "data":
            from weasyprint.urls import default_url_fetcher

            return default_url_fetcher(url)
        if parsed.scheme == "file" and not parsed.netloc:
            path = Path(unquote(parsed.path)).resolve()
            if path.is_relative_to(root) and path.is_file():
                mime, _encoding = mimetypes.guess_type(path.name)
                return {
                    "string": path.read_bytes(),
                    "mime_type": mime or "application/octet-stream",
                    "redirected_url": url,
                }
        if refused is not None:
            refused.append(url)
        raise FetchRefused(f"An approval pack may not load {url!r}.")

    return fetch
