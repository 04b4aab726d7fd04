"""The user-facing exception hierarchy: every message is safe to show a non-expert.

Messages never contain paths, ids, file names or exception text from libraries; `code` is a fixed,
de-identified reason code that the audit log records.
"""

from __future__ import annotations

import math


def megabytes(size: int) -> str:
    """A size in MB for a message, rounded up (an 10.02 MB file is never shown as "10.0 MB")."""
    return f"{math.ceil(size / 2**20 * 10) / 10:.1f} MB"


class LinlyError(Exception):
    """Base of every error whose message may be shown to the user as-is."""

    code = "error"
    message = "Something went wrong. Please try again."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.message)

    @property
    def user_message(self) -> str:
        return str(self.args[0])


class ConfigError(LinlyError):
    """A setting is invalid; the app refuses to start rather than run unsafely."""

    code = "config_invalid"


class EphemeralStorageError(ConfigError):
    """The ephemeral root cannot keep its guarantees (not memory-backed, wrong owner, unsafe mode)."""

    code = "ephemeral_unsafe"


class ServerBusy(LinlyError):
    """Temporary capacity problem (e.g. the memory-backed storage is full)."""

    code = "server_busy"
    message = "The server is busy right now (temporary storage is full). Please try again in a minute."


class ClusterBusy(ServerBusy):
    """The render cluster lost a render (a worker or the cluster went away, every retry failed)."""

    code = "cluster_unavailable"
    message = "The server is busy right now (the render cluster did not finish). Please try again in a minute."


class RenderTimedOut(LinlyError):
    """A render ran past LINLY_RENDER_TIMEOUT_SECONDS and was stopped."""

    code = "render_timeout"
    message = "Making the video took too long and was stopped. Please try again with shorter speech."


class RenderFailed(LinlyError):
    code = "render_failed"
    message = "The video could not be made. Please try again."


class IdentityDrift(LinlyError):
    """The rendered face no longer matches the portrait's person (it is refused rather than shown)."""

    code = "identity_drift"
    message = ("The video did not keep your face recognisable, so it was not shown. Please try another photo "
               "(frontal, well lit, the face filling more of the picture).")


class SessionError(LinlyError, PermissionError):
    """The browser session does not match the state it presented."""

    code = "session_invalid"
    message = "Your browser session has changed. Please reload the page."


class InputRejected(LinlyError):
    """The user's input cannot be used; the message says why and what to do."""

    code = "input_rejected"


class MissingInput(InputRejected):
    code = "input_missing"


class NamedFileRefused(InputRejected):
    """A request named a file instead of uploading it (or named someone else's upload)."""

    code = "file_not_uploaded"
    message = ("Please upload the file with the app's upload button; files named by a path are not accepted.")


class UploadTooLarge(InputRejected):
    code = "upload_too_large"


class EmptyUpload(InputRejected):
    code = "upload_empty"
    message = "The uploaded file is empty."


class UnsupportedFormat(InputRejected):
    code = "unsupported_format"
    message = "This file is not a supported image. Please upload a JPEG, PNG or WebP photo."


class CorruptImage(InputRejected):
    code = "corrupt_image"
    message = "The image file is damaged or incomplete and cannot be read. Please upload another photo."


class ImageTooLarge(InputRejected):
    code = "image_too_many_pixels"


class ImageTooSmall(InputRejected):
    code = "image_too_small"


class NoFaceFound(InputRejected):
    code = "no_face"
    message = "No face was found in this photo. Please upload a clear, front-facing portrait."


class FaceUnclear(InputRejected):
    code = "face_unclear"
    message = (
        "A face-like region was found but not clearly enough. Please upload a sharper, well-lit, "
        "front-facing portrait."
    )


class FaceTooSmall(InputRejected):
    code = "face_too_small"


class TokenError(LinlyError, PermissionError):
    """A portrait session token cannot be used; each subclass names which guarantee failed."""

    code = "token_invalid"


class MalformedToken(TokenError):
    code = "token_malformed"
    message = "The portrait session token is malformed or truncated. Please upload your portrait again."


class ForgedToken(TokenError):
    code = "token_forged"
    message = "The portrait session token failed its signature check. Please upload your portrait again."


class ExpiredToken(TokenError):
    code = "token_expired"
    message = "Your portrait session has expired and its features were deleted. Please upload your portrait again."


class RevokedToken(TokenError):
    code = "token_revoked"
    message = "This portrait session was erased. Please upload your portrait again."


class EmptyAudio(InputRejected):
    code = "audio_empty"
    message = "The audio is empty. Please upload or record some speech."


class UnsupportedAudio(InputRejected):
    code = "audio_unsupported"
    message = "This file is not a supported audio recording. Please use WAV, FLAC, MP3, OGG/Opus, M4A/AAC or WebM."


class CorruptAudio(InputRejected):
    code = "audio_corrupt"
    message = "The audio file is damaged or incomplete and cannot be played. Please upload another recording."


class AudioTooLong(InputRejected):
    code = "audio_too_long"


class AudioTooLarge(InputRejected):
    code = "audio_too_large"


class SilentAudio(InputRejected):
    code = "audio_silent"
    message = "The audio contains only silence. Please upload or record some speech."


class TextRejected(InputRejected):
    code = "text_rejected"


class VoiceError(LinlyError, PermissionError):
    """A voice operation is not allowed; each subclass names which check failed."""

    code = "voice_refused"


class ConsentRequired(VoiceError):
    code = "no_consent"
    message = ("Voice cloning needs your explicit consent (the consent box in the app, --consent on the command "
               "line). Nothing was read or stored.")


class VoiceNotFound(VoiceError):
    code = "voice_not_found"
    message = "No voiceprint is stored under this handle (it may have been erased)."


class VoiceLocked(VoiceError):
    code = "voice_locked"
    message = ("This voiceprint cannot be unlocked: the passphrase is wrong, or the record was altered or damaged. "
               "Nothing was changed.")


class VoiceOutdated(VoiceError):
    code = "voice_outdated"
    message = ("This voiceprint was made by an earlier version of the app and cannot be used for today's voice "
               "conversion. Erase it (same handle and passphrase) and enroll again.")


class VoiceInputRejected(InputRejected):
    code = "voice_input_rejected"
