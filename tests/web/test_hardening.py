"""The guard in front of Gradio, over raw HTTP: named files refused, uploads owned, headers, nothing exposed."""

from __future__ import annotations

import stat
from pathlib import Path

import httpx
import pytest

from linly_demo.errors import NamedFileRefused
from tests.conftest import encode
from tests.security.probe import Client, _ref
from tests.web.conftest import Server

pytestmark = pytest.mark.slow


@pytest.fixture
def photo(astronaut) -> bytes:
    return encode(astronaut)


def test_a_server_path_named_instead_of_uploaded_is_refused_and_never_read(server: Server, tmp_path: Path,
                                                                          photo: bytes) -> None:
    secret_photo = tmp_path / "elsewhere.jpg"
    secret_photo.write_bytes(photo)
    client = Client(server.url)
    before = server.files()
    for target in (str(secret_photo), "/dev/zero", "/etc/shadow", "/nonexistent.png", str(tmp_path)):
        kind, detail = client.call("process_portrait", [_ref(target)])
        assert (kind, detail) == ("refused", NamedFileRefused.message)  # the same answer: no existence oracle
    assert server.files() == before
    assert secret_photo.read_bytes() == photo


def test_an_upload_is_stored_under_a_random_name_and_only_its_uploader_may_use_it(server: Server,
                                                                                  photo: bytes) -> None:
    owner, other = Client(server.url), Client(server.url)
    stored = Path(owner.upload("My Holiday Photo.jpg", photo).json()[0])
    assert stored.parent == server.ephemeral and len(stored.stem) == 32 and stored.suffix == ".jpg"
    assert "Holiday" not in stored.name and stat.S_IMODE(stored.stat().st_mode) == 0o600
    assert other.call("process_portrait", [_ref(str(stored))]) == ("refused", NamedFileRefused.message)
    assert stored.read_bytes() == photo  # refused without being touched
    kind, outputs = owner.call("process_portrait", [_ref(str(stored))])
    assert kind == "complete" and not stored.exists()
    aligned = outputs[1]["path"]
    # An output is not an upload: not even its own session may hand it back to a handler.
    assert owner.call("process_portrait", [_ref(aligned)]) == ("refused", NamedFileRefused.message)
    assert Path(aligned).exists()
    owner.call("erase", ["", ""])


def test_an_upload_over_the_limit_or_malformed_leaves_nothing(server: Server) -> None:
    client = Client(server.url)
    before = server.files()
    too_big = client.upload("big.wav", b"\x00" * (31 * 2**20))
    assert too_big.status_code == 413 and "limit" in too_big.json()["detail"]
    broken = client.http.post("gradio_api/upload", content=b"--x\r\nnot multipart",
                              headers={"content-type": "multipart/form-data; boundary=x"})
    assert broken.status_code == 400
    assert client.http.post("gradio_api/upload", json={"files": "/etc/passwd"}).status_code == 400
    assert server.files() == before
    assert not [p for p in server.ephemeral.iterdir() if p.is_dir() and p.name != "vibe_edit_history"]


def test_an_upload_refused_by_the_session_check_is_deleted(server: Server, photo: bytes) -> None:
    first, second = Client(server.url), Client(server.url)
    assert first.call("process_portrait", [_ref(first.upload("me.jpg", photo).json()[0])])[0] == "complete"
    stored = Path(second.upload("me.jpg", photo).json()[0])
    second.session_hash = first.session_hash  # the state of another browser: the session check refuses it
    kind, message = second.call("process_portrait", [_ref(str(stored))])
    assert kind == "error" and "another browser" in message
    assert not stored.exists()
    first.call("erase", ["", ""])


def test_malformed_file_urls_are_404_never_500(server: Server) -> None:
    for path in ("gradio_api/file=/etc/passwd%00.png", "gradio_api/file=%00", "gradio_api/file=%ff",
                 "gradio_api/file=" + "x/" * 5000):
        assert httpx.get(server.url + path, timeout=30).status_code == 404


def test_every_response_has_security_headers_and_no_api_schema_is_served(server: Server) -> None:
    for path in ("", "config", "gradio_api/info", "gradio_api/file=/etc/passwd"):
        headers = httpx.get(server.url + path, timeout=30).headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["referrer-policy"] == "no-referrer"
        assert headers["x-frame-options"] == "DENY"
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
    for path in ("openapi.json", "gradio_api/openapi.json", "docs", "redoc"):
        assert httpx.get(server.url + path, timeout=30).status_code == 404
    config = httpx.get(server.url + "config", timeout=30).text
    assert "bound method" not in config and " at 0x" not in config and "delete_callback" not in config
    assert httpx.get(server.url + "gradio_api/info", timeout=30).status_code == 200  # gradio_client needs it


def test_an_unknown_language_is_refused_without_echoing_it(server: Server, photo: bytes) -> None:
    client = Client(server.url)
    assert client.call("process_portrait", [_ref(client.upload("me.jpg", photo).json()[0])])[0] == "complete"
    kind, message = client.call("generate", [None, "Hello there.", "<img src=x onerror=alert(1)>", False, "", ""])
    assert kind == "error" and "Unsupported language" in message and "onerror" not in message
    client.call("erase", ["", ""])


def test_uploads_create_no_folders_named_by_content(server: Server) -> None:
    client = Client(server.url)
    client.upload("a.jpg", b"\xff\xd8\xff" + b"1" * 100)
    assert all(p.parent == server.ephemeral for p in server.files())
