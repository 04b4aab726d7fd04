"""An adversarial probe of a running app over raw HTTP, as any client could send it; prints what it counted.

Each attack is one request (or one upload + call) that must end, within 30 s, in a plain refusal or a correct
result. Counted: inputs tried, clear answers, crashes (5xx, a traceback, a generic internal error, a dropped
connection), hangs (no answer in 30 s), and whether any other session's file was read, copied or deleted.

    .venv/bin/python -m tests.security.probe     # starts its own server (20 s TTL) and prints the counts
"""

from __future__ import annotations

import json
import secrets
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from linly_demo.errors import NamedFileRefused
from linly_demo.web.guard import COOKIE
from linly_demo.web.payloads import file_references
from tests.conftest import FACES, REPO, encode
from tests.security.inputs import bad_audio, bad_photos
from tests.speech import encode_audio, synthetic_voice

ANSWER_WITHIN_S = 30.0
GENERIC = "Something went wrong"


@dataclass
class Tally:
    tried: int = 0
    clear: int = 0
    crashes: list[str] = field(default_factory=list)
    hangs: list[str] = field(default_factory=list)
    unclear: list[str] = field(default_factory=list)

    def add(self, name: str, verdict: str) -> None:
        self.tried += 1
        if verdict == "clear":
            self.clear += 1
        elif verdict.startswith("crash"):
            self.crashes.append(f"{name}: {verdict}")
        elif verdict == "hang":
            self.hangs.append(name)
        else:
            self.unclear.append(f"{name}: {verdict}")

    def summary(self) -> str:
        return (f"inputs tried: {self.tried}; clear answers: {self.clear}; crashes: {len(self.crashes)}; "
                f"hangs: {len(self.hangs)}; unclear: {len(self.unclear)}")


def plain(message: object) -> bool:
    """A message a user can act on: text, not generic, no traceback, no server path."""
    return (isinstance(message, str) and bool(message.strip()) and GENERIC not in message
            and "Traceback" not in message and "/dev/shm" not in message and "/etc/" not in message)


class Client:
    """One browser: its own cookie and session hash."""

    def __init__(self, url: str) -> None:
        self.http = httpx.Client(base_url=url, timeout=ANSWER_WITHIN_S)
        self.http.get("/")
        self.session_hash = secrets.token_hex(8)

    @property
    def cookie(self) -> str:
        return self.http.cookies[COOKIE]

    def upload(self, name: str, data: bytes) -> httpx.Response:
        return self.http.post("gradio_api/upload", files=[("files", (name, data, "application/octet-stream"))])

    def call(self, api: str, data: list) -> tuple[str, object]:
        """('refused', detail) | ('error', message) | ('complete', outputs) | ('crash', what)."""
        posted = self.http.post(f"gradio_api/call/{api}", json={"data": data, "session_hash": self.session_hash})
        if posted.status_code >= 500:
            return "crash", posted.status_code
        if posted.status_code != 200:
            return "refused", posted.json().get("detail")
        stream = self.http.get(f"gradio_api/call/{api}/{posted.json()['event_id']}").text
        lines = stream.strip().splitlines()
        event = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("event:")
                      and line.split(":", 1)[1].strip() in ("complete", "error")), "crash")
        payload = json.loads(lines[-1].removeprefix("data:").strip() or "null") if lines else None
        if event == "error" and isinstance(payload, dict):
            payload = payload.get("error")
        return event, payload


def judged(tally: Tally, name: str, attempt) -> object:
    """Run one attack, time it, and count it; `attempt` returns 'clear' or 'crash' (and optionally a value)."""
    started = time.monotonic()
    try:
        verdict = attempt()
    except httpx.TimeoutException:
        verdict = "hang"
    except (httpx.HTTPError, ValueError) as exc:
        verdict = f"crash ({type(exc).__name__})"
    if verdict == "clear" and time.monotonic() - started > ANSWER_WITHIN_S:
        verdict = "hang"
    tally.add(name, verdict)
    return verdict


def _ref(path: object) -> dict:
    return {"path": path, "meta": {"_type": "gradio.FileData"}}


def _named_call(api: str, reference: object) -> list:
    return {"process_portrait": [reference], "generate": [reference, "", "en", False, "", ""],
            "enroll_voice": [True, "probe", "correct horse battery", reference], "check_video": [reference]}[api]


@dataclass
class Victim:
    """A real session with an unconsumed upload, an aligned face and a video."""

    client: Client
    upload: str
    outputs: list[str]


def make_victim(url: str, photo: bytes) -> Victim:
    victim = Client(url)
    path = victim.upload("me.jpg", photo).json()[0]
    kind, outputs = victim.call("process_portrait", [_ref(victim.upload("me.jpg", photo).json()[0])])
    assert kind == "complete", outputs
    speech = victim.upload("speech.flac", encode_audio(synthetic_voice(2.0), "flac", "flac")).json()[0]
    kind, made = victim.call("generate", [_ref(speech), "", "en", False, "", ""])
    assert kind == "complete", made
    files = [ref["path"] for ref in file_references([outputs, made])]
    assert len(files) == 2, (outputs, made)
    return Victim(victim, path, files)


def named_file_attacks(url: str, victim: Victim, ephemeral: Path, tally: Tally) -> None:
    """Server paths, devices, directories, symlinks, other sessions' files: refused, never opened."""
    link = ephemeral / f"{secrets.token_hex(8)}.png"
    link.symlink_to(FACES / "lin-manuel-miranda.png" if FACES.is_dir() else "/etc/hostname")
    targets = ["/etc/passwd", "/etc/shadow", "/does/not/exist.png", "/dev/zero", "/dev/urandom", "/etc",
               "/proc/self/environ",
               str(ephemeral), str(link), str(REPO / "README.md"), f"{ephemeral}/../../etc/passwd", "../../etc/passwd",
               "/etc/passwd\x00.png", "http://127.0.0.1:1/x.png", "data:image/png;base64,iVBORw0KGgo=", None, 42,
               ["/etc/passwd"], victim.upload, *victim.outputs]
    if FACES.is_dir():
        targets.append(str(FACES / "alex-lacamoire-1.jpg"))
    attacker = Client(url)
    for api in ("process_portrait", "generate", "enroll_voice", "check_video"):
        for target in targets:
            def attempt(api=api, target=target) -> str:
                kind, detail = attacker.call(api, _named_call(api, _ref(target)))
                return "clear" if kind == "refused" and detail == NamedFileRefused.message else f"unclear: {detail}"

            judged(tally, f"named file {target!r} -> {api}", attempt)
    # The same with the victim's session hash over the queue route, and a bare dict without Gradio's marker.
    for body in ({"data": [_ref(victim.upload)], "fn_index": 0, "session_hash": victim.client.session_hash},
                 {"data": [{"path": victim.outputs[-1]}], "session_hash": victim.client.session_hash}):
        def queued(body=body) -> str:
            answer = attacker.http.post("gradio_api/queue/join", json=body)
            return "clear" if answer.status_code == 400 else f"unclear: {answer.status_code}"

        judged(tally, "named file over queue/join", queued)
    link.unlink()


def url_attacks(url: str, victim: Victim, tally: Tally) -> None:
    """Malformed, traversal and foreign file URLs: all 404, none 500."""
    attacker = httpx.Client(base_url=url, timeout=ANSWER_WITHIN_S)
    attacker.get("/")
    paths = ["gradio_api/file=/etc/passwd%00.png", "gradio_api/file=%00", "gradio_api/file=/etc/passwd",
             "gradio_api/file=../../../../etc/passwd", "gradio_api/file=%2e%2e/%2e%2e/etc/passwd",
             "gradio_api/file=" + "a/" * 3000, "gradio_api/file=/dev/zero", "gradio_api/file=%ff%fe",
             "gradio_api/file/" + victim.outputs[-1], "file=" + victim.outputs[-1], "gradio_api/file=" + victim.upload,
             "openapi.json", "gradio_api/openapi.json", "docs", "redoc"]
    for path in paths:
        def attempt(path=path) -> str:
            status = attacker.get(path).status_code
            return "clear" if status == 404 else f"crash ({status})" if status >= 500 else f"unclear ({status})"

        judged(tally, f"url {path[:60]}", attempt)


def forged_cookie_attacks(url: str, victim: Victim, tally: Tally, count: int = 1000) -> None:
    """Random cookies never read the victim's video."""
    with httpx.Client(base_url=url, timeout=ANSWER_WITHIN_S) as http:
        for _ in range(count):
            forged = secrets.token_urlsafe(32)
            judged(tally, "forged cookie", lambda forged=forged: "clear" if http.get(
                f"gradio_api/file={victim.outputs[-1]}", headers={"cookie": f"{COOKIE}={forged}"}).status_code == 404
                else "unclear")


def forged_session_attacks(url: str, victim: Victim, tally: Tally, count: int = 20) -> None:
    """Random cookies presenting the victim's session (its session hash) are refused by the session check."""
    for _ in range(count):
        attacker = Client(url)
        attacker.session_hash = victim.client.session_hash

        def attempt(attacker=attacker) -> str:
            kind, message = attacker.call("generate", [None, "Hello there.", "en", False, "", ""])
            return "clear" if kind == "error" and isinstance(message, str) and "another browser" in message \
                else f"unclear ({kind}: {message})"

        judged(tally, "forged cookie on the victim's session", attempt)


def bad_input_attacks(url: str, photo: bytes, tally: Tally) -> None:
    """Every bad photo and audio kind: a plain message, and the upload is gone afterwards."""
    client = Client(url)
    for name, data in bad_photos(photo).items():
        def attempt(data=data) -> str:
            stored = client.upload("photo.png", data)
            if stored.status_code != 200:
                return "clear" if stored.status_code < 500 and plain(stored.json().get("detail")) else "crash"
            kind, message = client.call("process_portrait", [_ref(stored.json()[0])])
            return "clear" if kind == "error" and plain(message) and not Path(stored.json()[0]).exists() else "crash"

        judged(tally, f"photo: {name}", attempt)
    kind, _ = client.call("process_portrait", [_ref(client.upload("me.jpg", photo).json()[0])])
    assert kind == "complete"
    for name, data in bad_audio().items():
        def attempt(data=data, name=name) -> str:
            stored = client.upload("speech.wav", data)
            if stored.status_code != 200:
                return "clear" if stored.status_code < 500 and plain(stored.json().get("detail")) else "crash"
            kind, message = client.call("generate", [_ref(stored.json()[0]), "", "en", False, "", ""])
            # Eight channels and a wrong size field are still valid audio: speaking them is a correct answer.
            accepted = kind == "complete" and name in ("8 channels wav", "claimed huge wav")
            return "clear" if (accepted or (kind == "error" and plain(message))) else f"crash ({message})"

        judged(tally, f"audio: {name}", attempt)
    for language in ("xx", "<script>alert(1)</script>", ""):
        def attempt(language=language) -> str:
            kind, message = client.call("generate", [None, "Hello there.", language, False, "", ""])
            echoed = isinstance(message, str) and language and language in message
            return "clear" if (kind == "complete" and not language) or (kind == "error" and plain(message)
                                                                         and not echoed) else "crash"

        judged(tally, f"language {language!r}", attempt)


def run_probe(url: str, ephemeral: Path, photo: bytes, forged_cookies: int = 1000) -> tuple[Tally, bool]:
    """(tally, whether every file of the victim survived untouched and nothing new appeared for attackers)."""
    tally = Tally()
    victim = make_victim(url, photo)
    victim_files = [victim.upload, *victim.outputs]
    before = {p for p in ephemeral.rglob("*") if p.is_file()}
    named_file_attacks(url, victim, ephemeral, tally)
    url_attacks(url, victim, tally)
    forged_cookie_attacks(url, victim, tally, forged_cookies)
    forged_session_attacks(url, victim, tally)
    after = {p for p in ephemeral.rglob("*") if p.is_file()}
    untouched = all(Path(p).exists() for p in victim_files) and after == before
    bad_input_attacks(url, photo, tally)
    return tally, untouched


def leftovers_after_ttl(ephemeral: Path, ttl: float, grace: float = 15.0) -> list[Path]:
    deadline = time.time() + ttl + grace
    while time.time() < deadline:
        remaining = [p for p in ephemeral.rglob("*") if p.is_file()] if ephemeral.exists() else []
        if not remaining:
            return []
        time.sleep(1)
    return remaining


def main() -> int:
    from tests.web.conftest import start_server, stop_server

    photo = (FACES / "alex-lacamoire-1.jpg").read_bytes() if FACES.is_dir() else _astronaut_jpeg()
    with tempfile.TemporaryDirectory() as tmp:
        server = start_server(Path(tmp), ttl=20)
        try:
            tally, untouched = run_probe(server.url, server.ephemeral, photo)
            leftovers = leftovers_after_ttl(server.ephemeral, server.ttl)
        finally:
            stop_server(server)
    print(tally.summary())
    print(f"other sessions' files untouched: {untouched}; leftovers after TTL: {len(leftovers)}")
    for name in tally.crashes + tally.hangs + tally.unclear:
        print("  not clear:", name)
    return 0 if (tally.clear == tally.tried and untouched and not leftovers) else 1


def _astronaut_jpeg() -> bytes:
    from skimage import data

    return encode(data.astronaut())


if __name__ == "__main__":
    sys.exit(main())
