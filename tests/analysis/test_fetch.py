"""What an approval pack may load while it is laid out: its static files and data URLs only."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from importlib.metadata import version
from types import SimpleNamespace
from urllib.request import Request

import pytest
from packaging.version import Version

from audits.analysis.fetch import FetchRefused, static_fetcher
from tests import servers

CSS = b"body { color: #123456; }\n"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


@pytest.fixture
def root(tmp_path):
    """A static root with a stylesheet and an image, and a secret file beside it."""
    static = tmp_path / "static"
    (static / "css").mkdir(parents=True)
    (static / "css" / "pack.css").write_bytes(CSS)
    (static / "logo.png").write_bytes(PNG)
    (tmp_path / "secret.txt").write_bytes(b"not for packs")
    return static


def _redirect_to_stylesheet(path: str) -> servers.Answer:
    if path == "/after-redirect":
        return 200, {"Content-Type": "text/css"}, CSS
    return 302, {"Location": "/after-redirect"}, b""


@pytest.fixture
def canary() -> Iterator[SimpleNamespace]:
    """A loopback HTTP server that records every request; ``/after-redirect`` answers a
    stylesheet, any other path redirects there."""
    with servers.canary(_redirect_to_stylesheet) as server:
        yield server


def test_weasyprint_is_at_least_68_1():
    """68.0 fixed CVE-2025-68616 (redirects bypassing a custom fetcher's checks); 68.1
    is the floor the security plan sets. A downgrade must fail here."""
    assert Version(version("weasyprint")) >= Version("68.1")


def test_it_is_a_weasyprint_url_fetcher(root):
    """WeasyPrint 68+ takes a ``URLFetcher`` answering ``URLFetcherResponse`` objects."""
    from weasyprint.urls import URLFetcher, URLFetcherResponse

    fetch = static_fetcher(root)
    assert isinstance(fetch, URLFetcher)
    assert isinstance(fetch((root / "logo.png").as_uri()), URLFetcherResponse)


def test_it_serves_a_file_under_the_static_root_with_its_mime_type(root):
    refused: list[str] = []
    fetch = static_fetcher(root, refused)
    url = (root / "css" / "pack.css").as_uri()
    css = fetch(url)
    assert css.read() == CSS
    assert css.content_type == "text/css"
    assert css.url == url
    png = fetch((root / "logo.png").as_uri())
    assert png.read() == PNG
    assert png.content_type == "image/png"
    assert refused == []


def test_it_serves_a_data_url(root):
    refused: list[str] = []
    fetch = static_fetcher(root, refused)
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    served = fetch(url)
    assert served.read() == PNG
    assert served.content_type == "image/png"
    assert refused == []


def test_it_refuses_a_file_that_is_not_there(root):
    refused: list[str] = []
    url = (root / "css" / "missing.css").as_uri()
    with pytest.raises(FetchRefused):
        static_fetcher(root, refused)(url)
    assert refused == [url]


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "http://example.com/x.png",
        "https://example.com/tracker.png",
        "ftp://example.com/pub/x.png",
        "file://evil.example.com/etc/passwd",
        "file://localhost/etc/passwd",
        "gopher://example.com/1",
        "//example.com/x.png",
    ],
)
def test_it_refuses_the_network_and_files_elsewhere(root, url):
    refused: list[str] = []
    fetch = static_fetcher(root, refused)
    with pytest.raises(FetchRefused, match="may not load"):
        fetch(url)
    assert refused == [url]


def test_it_refuses_a_path_that_climbs_out_of_the_root(root):
    refused: list[str] = []
    fetch = static_fetcher(root, refused)
    climbing = [
        root.as_uri() + "/../../etc/passwd",
        root.as_uri() + "/../secret.txt",
        root.as_uri() + "/css/../../secret.txt",
        root.as_uri() + "/%2e%2e/secret.txt",
    ]
    for url in climbing:
        with pytest.raises(FetchRefused):
            fetch(url)
    assert refused == climbing


def test_it_refuses_a_symlink_that_points_out_of_the_root(root):
    refused: list[str] = []
    (root / "escape.txt").symlink_to(root.parent / "secret.txt")
    url = (root / "escape.txt").as_uri()
    with pytest.raises(FetchRefused):
        static_fetcher(root, refused)(url)
    assert refused == [url]


def test_it_refuses_a_sibling_folder_whose_name_starts_like_the_root(root):
    """``/tmp/x/static-evil`` is not under ``/tmp/x/static`` though the string starts alike."""
    sibling = root.parent / (root.name + "-evil")
    sibling.mkdir()
    (sibling / "x.css").write_bytes(b"x")
    refused: list[str] = []
    url = (sibling / "x.css").as_uri()
    with pytest.raises(FetchRefused):
        static_fetcher(root, refused)(url)
    assert refused == [url]


def test_it_refuses_without_a_list_to_record_in(root):
    with pytest.raises(FetchRefused):
        static_fetcher(root)("http://example.com/x.png")


def test_the_canary_sees_the_default_fetcher_follow_a_redirect(canary):
    """The control for the tests below: WeasyPrint's own fetcher does reach the canary
    and follows its redirect, so an empty ``hits`` there means nothing was requested."""
    from weasyprint.urls import URLFetcher

    response = URLFetcher()(canary.url + "/control")
    assert response.read() == CSS
    assert canary.hits == ["/control", "/after-redirect"]


def test_it_makes_no_request_to_a_redirecting_server(root, canary):
    refused: list[str] = []
    fetch = static_fetcher(root, refused)
    url = canary.url + "/x.png"
    with pytest.raises(FetchRefused):
        fetch(url)
    # The way urllib's redirect handler re-enters an opener: refused the same.
    with pytest.raises(FetchRefused):
        fetch.open(Request(url + "?again"))
    assert canary.hits == []
    assert refused == [url, url + "?again"]


def test_a_document_naming_urls_everywhere_loads_only_its_static_files(root, canary):
    """Laid out and written by WeasyPrint, every way a document can name a URL
    (stylesheet links, @import, @font-face, CSS url(), <img>, SVG <image>, attachments)
    reaches the fetcher, which refuses all but the static files and data URLs; the
    refusals are logged by WeasyPrint and the document is still written."""
    from weasyprint import HTML

    c = canary.url
    data_png = "data:image/png;base64," + base64.b64encode(PNG).decode()
    html = f"""
        <link rel="stylesheet" href="css/pack.css">
        <link rel="stylesheet" href="{c}/link.css">
        <style>
          @import url("{c}/import.css");
          @font-face {{ font-family: Remote; src: url("{c}/font.woff"); }}
          body {{ background: url("{c}/background.png"); font-family: Remote, sans-serif; }}
        </style>
        <img src="logo.png"> <img src="{data_png}">
        <img src="{c}/img.png"> <img src="file:///etc/passwd"> <img src="../secret.txt">
        <svg width="10" height="10"><image href="{c}/svg.png" width="10" height="10"/></svg>
        <link rel="attachment" href="{c}/attachment.txt">
        <a rel="attachment" href="{c}/anchor-attachment.txt">attached</a>
        <p>Approval pack</p>
    """
    refused: list[str] = []
    fetcher = static_fetcher(root, refused)
    pdf = HTML(string=html, base_url=root.as_uri() + "/", url_fetcher=fetcher).write_pdf()

    assert pdf.startswith(b"%PDF")
    assert canary.hits == []
    assert sorted(refused) == sorted(
        [
            f"{c}/link.css",
            f"{c}/import.css",
            f"{c}/font.woff",
            f"{c}/background.png",
            f"{c}/img.png",
            "file:///etc/passwd",
            (root.parent / "secret.txt").as_uri(),
            f"{c}/svg.png",
            f"{c}/attachment.txt",
            f"{c}/anchor-attachment.txt",
        ]
    )
