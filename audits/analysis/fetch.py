"""What an approval pack may load while it is laid out: its own static files and data URLs.

WeasyPrint fetches every URL a document names (images, stylesheets, fonts). A pack holds
text people typed, so the fetcher refuses the network and any file outside the static
directory; a refused URL is recorded and left out of the document. No Django import.

Since WeasyPrint 68 a URL fetcher is a ``weasyprint.urls.URLFetcher`` whose ``fetch``
returns a ``URLFetcherResponse``; the plain functions returning dicts of earlier versions
are no longer accepted (70 removed ``default_url_fetcher``). Ours overrides ``fetch``
whole, so nothing reaches urllib's opener: no request is made, hence no redirect is
followed (CVE-2025-68616 concerned fetchers that checked a URL and then let the default
fetcher follow redirects from it).
"""

from __future__ import annotations

import functools
import mimetypes
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlparse
from urllib.request import DataHandler, Request

if TYPE_CHECKING:
    from weasyprint.urls import URLFetcher, URLFetcherResponse


class FetchRefused(ValueError):
    """The pack named a URL it may not load."""


@functools.cache
def _static_fetcher_class() -> type[URLFetcher]:
    # Importing WeasyPrint loads system libraries (Pango): only a worker laying out does.
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    class StaticFetcher(URLFetcher):
        """Serves ``data:`` URLs and the files under ``root``; refuses every other URL."""

        def __init__(self, root: Path, refused: list[str] | None) -> None:
            # Never used (``fetch`` below opens nothing through urllib), but should that
            # change: data URLs only, and no redirect. Refusals stay non-fatal: WeasyPrint
            # logs them and leaves the resource out.
            super().__init__(allowed_protocols=("data",), allow_redirects=False)
            self.root = root
            self.refused = refused

        def fetch(self, url: str, headers: Any = None) -> URLFetcherResponse:
            parsed = urlparse(url)
            if parsed.scheme == "data":
                decoded = DataHandler().data_open(Request(url))
                return URLFetcherResponse(url, decoded.read(), decoded.headers)
            if parsed.scheme == "file" and not parsed.netloc:
                path = Path(unquote(parsed.path)).resolve()
                if path.is_relative_to(self.root) and path.is_file():
                    mime, _encoding = mimetypes.guess_type(path.name)
                    return URLFetcherResponse(
                        url,
                        path.read_bytes(),
                        {"Content-Type": mime or "application/octet-stream"},
                    )
            if self.refused is not None:
                self.refused.append(url)
            raise FetchRefused(f"An approval pack may not load {url!r}.")

    return StaticFetcher


def static_fetcher(static_root: Path, refused: list[str] | None = None) -> URLFetcher:
    """A WeasyPrint URL fetcher serving ``data:`` URLs and files under ``static_root``.

    Every refused URL is appended to ``refused`` (when given) before the refusal."""
    return _static_fetcher_class()(static_root.resolve(), refused)
