"""What an approval pack may load while it is laid out: its static files and data URLs only."""

from __future__ import annotations

import base64

import pytest

from audits.analysis.fetch import FetchRefused, static_fetcher

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


def test_it_serves_a_file_under_the_static_root_with_its_mime_type(root):
    refused: list[str] = []
    fetch = static_fetcher(root, refused)
    css = fetch((root / "css" / "pack.css").as_uri())
    assert css["string"] == CSS
    assert css["mime_type"] == "text/css"
    png = fetch((root / "logo.png").as_uri())
    assert png["string"] == PNG
    assert png["mime_type"] == "image/png"
    assert refused == []


def test_it_serves_a_data_url(root):
    refused: list[str] = []
    fetch = static_fetcher(root, refused)
    url = "data:image/png;base64," + base64.b64encode(PNG).decode()
    served = fetch(url)
    # WeasyPrint's own fetcher answers data URLs with a file object, not bytes.
    body = served["string"] if "string" in served else served["file_obj"].read()
    assert body == PNG
    assert served["mime_type"] == "image/png"
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
