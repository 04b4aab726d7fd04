"""The whole app flow through gradio_client, run inside the locked-down app's network namespace.

Usage: python hardened_client.py URL PHOTO SPEECH SAMPLE; prints one JSON line of what each step returned.
"""

import json
import sys
import tempfile

import av
from gradio_client import Client, handle_file

PASSPHRASE = "correct horse battery staple"


def main(url: str, photo: str, speech: str, sample: str) -> None:
    with tempfile.TemporaryDirectory(prefix="linly-hardened-client-") as folder:  # its downloads go with it
        tempfile.tempdir = folder  # gradio_client's scratch folders too
        run(Client(url, verbose=False, download_files=folder), photo, speech, sample)


def run(client: Client, photo: str, speech: str, sample: str) -> None:
    result = {}
    result["portrait"] = client.predict(handle_file(photo), api_name="/process_portrait")[2]
    result["enroll"] = client.predict(True, "ada lovelace", PASSPHRASE, handle_file(sample),
                                      api_name="/enroll_voice")[0]
    video = client.predict(None, "Maybe Bob put the blue boat by the pier.", "en", True, "ada lovelace", PASSPHRASE,
                           api_name="/generate")[0]
    with av.open(video) as container:
        result["voice_video"] = [container.streams.video[0].codec_context.name,
                                 container.streams.audio[0].codec_context.name]
    video = client.predict(handle_file(speech), "", "en", False, "", "", api_name="/generate")[0]
    with av.open(video) as container:
        result["speech_video_frames"] = sum(1 for _ in container.decode(video=0))
    result["erase_session"] = client.predict("", "", api_name="/erase")[0]
    print(json.dumps(result))


if __name__ == "__main__":
    main(*sys.argv[1:])
