"""The app's handlers: portrait -> features, voice enrollment, generate, erase; one `WebSession` per browser tab.

Guarantees: every upload a handler receives is deleted right after reading, also on failure; a session's state
is used only by the browser session (cookie) that created it; every file a handler makes is owned by that
session and served to nobody else; errors reach the user as plain messages, never stack traces or paths.
"""

from __future__ import annotations

import contextlib
import functools
import io
import logging
import os
import secrets
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from linly_demo.audio import decode_audio_file
from linly_demo.errors import LinlyError, MissingInput, NamedFileRefused, SessionError, TextRejected, TokenError
from linly_demo.portrait.identity import IdentityCheck
from linly_demo.provenance.verify import verify_video
from linly_demo.render.pipeline import render_video
from linly_demo.runtime import Runtime
from linly_demo.voice.tts import VOICES
from linly_demo.web.guard import COOKIE
from linly_demo.web.ownership import OwnerRegistry

log = logging.getLogger(__name__)


@dataclass
class WebSession:
    """What one browser tab holds on the server: its portrait token and the files made for it."""

    owner: str  # keyed hash of the session cookie
    token: str | None = None
    token_expires_at: float = 0.0
    files: dict[str, str] = field(default_factory=dict)  # path -> what it is ("aligned face", "video")

    @property
    def subject(self) -> str:
        return f"web-{self.owner[:24]}"


def user_errors(handler: Callable[..., Any]) -> Callable[..., Any]:
    """Every failure leaves as a `LinlyError` with a plain message; unexpected ones are logged by type only."""

    @functools.wraps(handler)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        try:
            return handler(*args, **kwargs)
        except LinlyError:
            raise
        except Exception as exc:
            log.error("handler %s failed: %s", handler.__name__, type(exc).__name__)
            raise LinlyError("Something went wrong on the server. Please try again.") from None

    return wrapped


class AppHandlers:
    def __init__(self, runtime: Runtime, registry: OwnerRegistry) -> None:
        self.runtime = runtime
        self.registry = registry

    # --- sessions ---------------------------------------------------------------------------------------------

    def session(self, state: WebSession | None, cookie: str | None) -> WebSession:
        """The tab's session; state presented with another browser's cookie is refused."""
        if not cookie:
            raise SessionError("Your browser did not send the session cookie. Please reload the page.")
        owner = self.registry.owner_id(cookie)
        if state is None:
            return WebSession(owner)
        if state.owner != owner:
            raise SessionError("This session belongs to another browser. Please reload the page.")
        return state

    def purge(self, state: WebSession | None) -> None:
        """gr.State delete callback (tab closed or state expired): features, token and files go at once."""
        if state is None:
            return
        if state.token:
            self.runtime.tokens.revoke(state.token)
            state.token = None
        for path in list(state.files):
            self._delete(path)
        state.files.clear()

    def _delete(self, path: str | os.PathLike[str]) -> None:
        if self.runtime.ephemeral.contains(path):
            self.runtime.ephemeral.delete(path)
        self.registry.forget(path)

    @contextlib.contextmanager
    def _uploads(self, cookie: str | None, *paths: str | None) -> Iterator[None]:
        """Admit only files this browser uploaded (anything else is refused untouched); each admitted upload is
        deleted when the block ends, however it ends, before the session itself is checked."""
        owner = self.registry.owner_id(cookie) if cookie else None
        named = [path for path in paths if path]
        if any(owner is None or not self.registry.is_upload_of(path, owner) for path in named):
            raise NamedFileRefused()
        try:
            yield
        finally:
            for path in named:
                self._delete(path)

    def _keep(self, session: WebSession, path: Path, what: str) -> str:
        self.registry.claim(path, session.owner)
        session.files[str(path)] = what
        return str(path)

    # --- handlers ---------------------------------------------------------------------------------------------

    @user_errors
    def process_portrait(self, portrait: str | None, state: WebSession | None, cookie: str | None):
        """Upload -> features; returns (aligned face image, summary, session)."""
        with self._uploads(cookie, portrait):
            session = self.session(state, cookie)
            if not portrait:
                raise MissingInput("Please upload a photo of a face.")
            features = self.runtime.portraits.process_file(portrait, subject=session.subject)
        self._drop_portrait(session)
        session.token = self.runtime.tokens.issue(features, subject=session.subject)
        session.token_expires_at = self.runtime.tokens.expires_at(session.token)
        buffer = io.BytesIO()
        Image.fromarray(features.template).save(buffer, "PNG")
        preview = self._keep(session, self.runtime.ephemeral.write_bytes(buffer.getvalue(), ".png"), "aligned face")
        faces = ("1 face found" if features.faces_found == 1
                 else f"{features.faces_found} faces found; the largest clear one is used")
        summary = (f"**{faces}.** The original photo has been deleted. Its features (aligned face, landmarks, "
                   f"embedding) are held in memory until {_clock(session.token_expires_at)}.")
        return preview, summary, session

    def _drop_portrait(self, session: WebSession) -> None:
        if session.token:
            self.runtime.tokens.revoke(session.token)
            session.token = None
        for path, what in list(session.files.items()):
            if what == "aligned face":
                self._delete(path)
                del session.files[path]

    @user_errors
    def enroll_voice(self, consent: object, voice_handle: str, passphrase: str, sample: str | None,
                     state: WebSession | None, cookie: str | None):
        with self._uploads(cookie, sample):
            session = self.session(state, cookie)
            result = self.runtime.voices.enroll(consent is True, voice_handle or "", passphrase or "",
                                                [sample] if sample else [], subject=session.subject)
        message = (f"**Voice enrolled** from {result.speech_seconds:.0f} s of speech. Your voiceprint is stored "
                   f"encrypted with your passphrase (similarity to your samples: plain voice "
                   f"{result.similarity_plain:.2f}, your enrolled voice {result.similarity_converted:.2f}). "
                   f"The samples have been deleted.")
        return message, session

    @user_errors
    def generate(self, audio: str | None, text: str | None, language: str, use_my_voice: bool, voice_handle: str,
                 passphrase: str, state: WebSession | None, cookie: str | None,
                 progress: Callable[[float, str], None] = lambda *_: None):
        settings = self.runtime.settings
        with self._uploads(cookie, audio):
            session = self.session(state, cookie)
            progress(0.05, "features")
            if not session.token:
                raise MissingInput("Please upload your portrait first.")
            try:
                features = self.runtime.tokens.resolve(session.token, session.subject)
            except TokenError:
                session.token = None
                raise
            progress(0.15, "speech")
            phonemes = None
            if audio:
                speech = decode_audio_file(audio, self.runtime.ephemeral, settings.max_audio_bytes,
                                           settings.max_audio_seconds)
            elif text and text.strip():
                language = _known_language(language)
                voices = self.runtime.voices
                spoken = (voices.synthesize(session.token, text, voice_handle or "", passphrase or "",
                                            language, session.subject)
                          if use_my_voice else voices.speak(text, language))
                speech, phonemes = spoken.speech, spoken.phonemes
            else:
                raise MissingInput("Please upload or record speech, or type some text to speak.")
        progress(0.3, "driving signals and frames")
        started = time.perf_counter()
        try:
            # A fresh seed per render: blinks and head motion differ between clips, as a person's would.
            rendered = render_video(features, speech, self.runtime.ephemeral, settings.fps, settings.video_size,
                                    seed=secrets.randbelow(2**31), phonemes=phonemes,
                                    timeout_s=settings.render_timeout_seconds,
                                    identity_check=IdentityCheck(self.runtime.portraits.models, features.embedding),
                                    provenance=self.runtime.provenance, subject=session.subject,
                                    cluster=self.runtime.cluster)
        except LinlyError as exc:
            self.runtime.audit.record("render.failed", "failed", session.subject,
                                      duration_s=time.perf_counter() - started, reason=exc.code)
            raise
        progress(0.95, "encoding")
        self.runtime.audit.record("render.completed", "ok", session.subject, duration_s=time.perf_counter() - started)
        return self._keep(session, rendered.video.path, "video"), session

    @user_errors
    def check_video(self, video: str | None, state: WebSession | None, cookie: str | None):
        """An uploaded video's provenance layers; the upload is read into memory and deleted at once.
        Returns (summary, report, session)."""
        with self._uploads(cookie, video):
            session = self.session(state, cookie)
            if not video:
                raise MissingInput("Please upload a video to check.")
            data = self.runtime.ephemeral.consume(Path(video), self.runtime.settings.max_upload_bytes)
        report = verify_video(data, self.runtime.provenance)
        self.runtime.audit.record("video.checked", "ok", session.subject, count=len(report["layers_found"]))
        return _check_summary(report), report, session

    @user_errors
    def erase(self, voice_handle: str, passphrase: str, state: WebSession | None, cookie: str | None):
        """Erase the session's features, token and files (everything the cookie owns), and the voiceprint when
        handle and passphrase are given."""
        session = self.session(state, cookie)
        erased = []
        if voice_handle or passphrase:
            if not (voice_handle and passphrase):
                raise MissingInput("To erase your voiceprint, give both its handle and passphrase "
                                      "(leave both empty to erase only this session).")
            self.runtime.voices.erase(voice_handle, passphrase, session.subject)
            erased.append("your encrypted voiceprint")
        had_features = session.token is not None
        self.purge(session)
        files = self.registry.release(session.owner)
        for path in files:
            self._delete(path)
        if had_features:
            erased.insert(0, "your portrait features and session token")
        erased.append(f"{len(files)} file(s) (uploads, aligned face, videos)")
        self.runtime.audit.record("session.erased", "ok", session.subject, count=len(files))
        return "**Erased:** " + "; ".join(erased) + ". Nothing of this session remains on the server.", session

    # --- privacy panel ----------------------------------------------------------------------------------------

    def privacy_report(self, state: WebSession | None) -> str:
        if state is None or (not state.token and not state.files):
            return "The server holds nothing for this session."
        ttl = self.runtime.settings.ttl_seconds
        lines = ["| what | where | deleted at the latest |", "| --- | --- | --- |"]
        if state.token:
            lines.append(f"| portrait features and session token | server memory | {_clock(state.token_expires_at)} |")
        for path, what in state.files.items():
            try:
                expires = os.stat(path).st_mtime + ttl
            except FileNotFoundError:
                continue
            lines.append(f"| {what} | memory-backed temporary storage | {_clock(expires)} |")
        lines.append("\nYour voiceprint, if you enrolled one, is stored encrypted with your passphrase until you "
                     "erase it.")
        return "\n".join(lines)


def _known_language(language: object) -> str:
    """The language code when it is one the app speaks; the refusal never echoes what was sent."""
    if language in (None, ""):
        return "en"
    if not isinstance(language, str) or language not in VOICES:
        raise TextRejected(f"Unsupported language; choose one of: {', '.join(sorted(VOICES))}.")
    return language


def _clock(epoch: float) -> str:
    remaining = max(0, int(epoch - time.time()))
    return f"{time.strftime('%H:%M:%S UTC', time.gmtime(epoch))} (in {remaining // 60} min {remaining % 60:02d} s)"


def cookie_of(request: Any) -> str | None:
    """The session cookie from a `gr.Request`."""
    cookies = getattr(request, "cookies", None) or {}
    return cookies.get(COOKIE) if hasattr(cookies, "get") else None


def _check_summary(report: dict[str, Any]) -> str:
    """One line per layer, in words."""
    c2pa, mark, label = report["c2pa"], report["watermark"], report["label"]
    manifest = {"trusted": "signed, and the signature validates against this deployment's certificate",
                "valid": "signed, but by a certificate this deployment does not trust",
                "invalid": "present but broken (the file was changed after signing, or the signature is bad)",
                "absent": "none"}[c2pa["state"]]
    lines = [f"- **C2PA manifest:** {manifest}" + (" (made by this deployment)" if c2pa["signer_is_this_deployment"]
                                                  else "")]
    if mark["found"]:
        known = {True: "; this deployment's audit log records the render", False: "; not in this deployment's "
                 "audit log", None: ""}[mark["render_id_known"]]
        lines.append(f"- **Invisible watermark:** found (render {mark['payload']['render_id']}{known})")
    else:
        lines.append("- **Invisible watermark:** not found")
    lines.append(f"- **Visible \"AI-generated\" label:** {'found' if label['found'] else 'not found'}")
    return "\n".join(lines) + "\n\nThe uploaded video has been deleted."
