"""The Gradio Blocks interface: portrait, speech, optional voice cloning behind consent, generate, privacy panel.

Guarantees: the voice-cloning controls stay disabled until the consent box (unchecked by default) is ticked,
and are disabled again when it is unticked; the portrait token lives only in server-side `gr.State` (with a time
to live and a delete callback that purges features and files), never in the browser; every handler has the
`api_name` that `gradio_client` uses; errors are shown as plain messages.
"""

from __future__ import annotations

from typing import Any, TypeVar

import gradio as gr

from linly_demo.errors import LinlyError
from linly_demo.web.handlers import AppHandlers, cookie_of

C = TypeVar("C", gr.Image, gr.File)

CONSENT_STATEMENT = """**What voice cloning stores, and how to undo it.** If you tick the box and enroll, the app
analyses your voice sample in memory, deletes the sample at once, and stores one *voiceprint*: about 4,000 short
frames of your voice's own spectrum (20 s of it at most, enough to rebuild how your voice sounds, not what you
said), your pitch level and range, and your speaking pace. That is revealing, so it is encrypted with AES-256-GCM
under a key derived from your passphrase (scrypt), in the app's voice store on this server, apart from all
portrait data; the server never keeps your passphrase, so without it nobody (the operator included) can read or
use your voiceprint. It stays until you erase it: give your handle and passphrase below and press "Erase
everything now"."""

INTRO = """# linly-demo: a talking portrait that forgets you
Upload one photo of a face and some speech; the app makes a video of that face speaking. Your photo is held only
in memory-backed storage, deleted the moment its features are extracted, and nothing identifying outlives its
short time limit."""


def untouched_upload(component: C) -> C:
    """Make an upload hand its file to the handler untouched. Gradio's own pre-processing would open an image with
    PIL first, failing (and keeping the upload) on a bad file before the app could reject and delete it, and
    gr.File's leaves an empty temporary file in the cache for every upload. Set on the instance: a subclass would
    make Gradio write a .pyi stub into the package at import. Webcam snapshots arrive through the upload route like
    any file; a reference without a path was refused by the guard."""

    def preprocess(payload):
        if payload is None:
            return None
        return payload.path if hasattr(payload, "path") else payload[0].path

    component.preprocess = preprocess  # type: ignore[method-assign]
    return component


def _gradio(handler):
    """Adapt a handler: session cookie from the request, plain-message errors."""

    def call(*args: Any, request: gr.Request, **kwargs: Any) -> Any:
        try:
            return handler(*args, cookie=cookie_of(request), **kwargs)
        except LinlyError as exc:
            raise gr.Error(exc.user_message, print_exception=False) from None

    return call


def private_state(state: gr.State) -> gr.State:
    """Keep the State's delete callback out of the page config (its repr names a server object and address)."""
    get_config = state.get_config

    def config(*args: Any, **kwargs: Any) -> dict:
        return {key: value for key, value in get_config(*args, **kwargs).items() if key != "delete_callback"}

    state.get_config = config  # type: ignore[method-assign]
    return state


def build_interface(handlers: AppHandlers) -> gr.Blocks:
    settings = handlers.runtime.settings
    ttl = int(settings.ttl_seconds)
    with gr.Blocks(title="linly-demo", analytics_enabled=False, delete_cache=(min(60, ttl), ttl)) as demo:
        state = private_state(gr.State(None, time_to_live=settings.token_ttl_seconds, delete_callback=handlers.purge))
        gr.Markdown(INTRO)
        with gr.Row():
            with gr.Column():
                gr.Markdown("### 1. Your portrait")
                portrait = untouched_upload(gr.Image(label="Photo of a face", type="filepath",
                                                     sources=["upload", "webcam"], image_mode=None,
                                                     elem_id="portrait"))
                aligned = gr.Image(label="Aligned face (what the app keeps)", interactive=False, elem_id="aligned")
                face_info = gr.Markdown(elem_id="face-info")
            with gr.Column():
                gr.Markdown("### 2. Speech")
                audio = gr.Audio(label="Upload or record speech", sources=["upload", "microphone"], type="filepath",
                                 elem_id="speech-audio")
                text = gr.Textbox(label="...or type text to speak", max_lines=4, max_length=500, elem_id="text")
                # Validated by the handler: Gradio's own check would echo an unknown value back to the client.
                language = gr.Dropdown(choices=[("English", "en"), ("Mandarin", "zh")], value="en",
                                       label="Language of the text", allow_custom_value=True)
        with gr.Accordion("3. Voice cloning (optional)", open=True, elem_id="voice-section"):
            consent = gr.Checkbox(value=False, label="I consent to a voiceprint of my voice being stored, "
                                                    "encrypted with my passphrase", elem_id="consent")
            gr.Markdown(CONSENT_STATEMENT)
            with gr.Row():
                voice_handle = gr.Textbox(label="Voice handle (a name you choose)", elem_id="voice-handle")
                passphrase = gr.Textbox(label="Passphrase (at least 10 characters)", type="password",
                                        elem_id="passphrase")
            sample = gr.Audio(label="Voice sample: at least 5 s of your speech", sources=["microphone", "upload"],
                              type="filepath", elem_id="voice-sample")
            with gr.Row():
                enroll = gr.Button("Enroll my voice", interactive=False, elem_id="enroll")
                use_my_voice = gr.Checkbox(value=False, label="Speak typed text with my voice", interactive=False,
                                           elem_id="use-my-voice")
            enroll_status = gr.Markdown(elem_id="enroll-status")
        gr.Markdown("### 4. Generate")
        generate = gr.Button("Generate the talking video", variant="primary", elem_id="generate")
        video = gr.Video(label="Talking portrait", interactive=False, height=540, elem_id="video")
        with gr.Accordion("Check a video: was it made by an AI app like this one?", open=False,
                          elem_id="check-section"):
            checked_video = untouched_upload(gr.File(label="A video to check (deleted as soon as it is read)",
                                                     type="filepath", file_types=[".mp4", ".mov", ".webm", ".mkv"],
                                                     elem_id="check-video"))
            check = gr.Button("Check the video", elem_id="check")
            check_summary = gr.Markdown(elem_id="check-summary")
            check_report = gr.JSON(label="Full report", elem_id="check-report")
        with gr.Accordion("5. Privacy: what the server holds for you", open=True):
            privacy = gr.Markdown(handlers.privacy_report(None), elem_id="privacy")
            erase = gr.Button("Erase everything now", variant="stop", elem_id="erase")
            erase_status = gr.Markdown(elem_id="erase-status")

        def report(session):
            return handlers.privacy_report(session)

        portrait_call = _gradio(handlers.process_portrait)

        def process_portrait(portrait, session, request: gr.Request):
            preview, summary, session = portrait_call(portrait, session, request=request)
            return None, preview, summary, session, report(session)

        portrait.upload(process_portrait, [portrait, state], [portrait, aligned, face_info, state, privacy],
                        api_name="process_portrait", show_progress="minimal")

        def on_consent(given: bool):
            return gr.update(interactive=given), gr.update(interactive=given, value=False if not given else None)

        consent.change(on_consent, consent, [enroll, use_my_voice], api_visibility="private", queue=False)

        enroll_call = _gradio(handlers.enroll_voice)

        def enroll_voice(consent, voice_handle, passphrase, samples, session, request: gr.Request):
            message, session = enroll_call(consent, voice_handle, passphrase, samples, session, request=request)
            return message, None, session, report(session)

        enroll.click(enroll_voice, [consent, voice_handle, passphrase, sample, state],
                     [enroll_status, sample, state, privacy], api_name="enroll_voice")

        generate_call = _gradio(handlers.generate)

        def generate_video(audio, text, language, use_my_voice, voice_handle, passphrase, session,
                           request: gr.Request, progress=gr.Progress()):  # noqa: B008 (Gradio injects it so)
            path, session = generate_call(audio, text, language, use_my_voice, voice_handle, passphrase, session,
                                          request=request, progress=lambda share, stage: progress(share, desc=stage))
            return path, None, session, report(session)

        generate.click(generate_video, [audio, text, language, use_my_voice, voice_handle, passphrase, state],
                       [video, audio, state, privacy], api_name="generate",
                       concurrency_limit=settings.render_concurrency, concurrency_id="render")

        check_call = _gradio(handlers.check_video)

        def check_video(video, session, request: gr.Request):
            summary, full, session = check_call(video, session, request=request)
            return summary, full, None, session, report(session)

        check.click(check_video, [checked_video, state], [check_summary, check_report, checked_video, state, privacy],
                    api_name="check_video")

        erase_call = _gradio(handlers.erase)

        def erase_everything(voice_handle, passphrase, session, request: gr.Request):
            message, session = erase_call(voice_handle, passphrase, session, request=request)
            return message, None, "", None, session, report(session)

        erase.click(erase_everything, [voice_handle, passphrase, state],
                    [erase_status, aligned, face_info, video, state, privacy], api_name="erase")
    return demo
