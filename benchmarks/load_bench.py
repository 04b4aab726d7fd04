"""Twelve browsers at once against a real server: portrait, then generate; success, latency, memory, isolation.

Prints the success rate, p50/p95 latency of portrait + generate per client, the server's peak resident memory
(VmHWM) and how many of the cross-fetches (each client asking for every other client's aligned face and video)
were served (target 0).
Run: `.venv/bin/python -m benchmarks.load_bench [--clients N] [--seconds S]` from the repository root.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import numpy as np
from gradio_client import Client, handle_file

from benchmarks.samples import astronaut
from linly_demo.web.guard import COOKIE
from tests.conftest import encode
from tests.speech import encode_audio, real_speech_with_pauses, synthetic_voice
from tests.web.conftest import start_server, stop_server


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    face = astronaut()
    real = real_speech_with_pauses()
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        jobs = []
        for i in range(args.clients):
            photo, speech = tmp / f"face-{i}.jpg", tmp / f"speech-{i}.flac"
            tint = 1.0 - 0.03 * i
            photo.write_bytes(encode(np.clip(face * tint, 0, 255).astype(np.uint8)))
            samples = (real.samples[: int(args.seconds * 16000)] if real is not None
                       else synthetic_voice(args.seconds, seed=i))
            speech.write_bytes(encode_audio(samples, "flac", "flac"))
            jobs.append((photo, speech))
        server = start_server(tmp)
        try:
            def run(job):
                photo, speech = job
                started = time.perf_counter()
                try:
                    client = Client(server.url, verbose=False, download_files=tmp)  # not /tmp/gradio
                    aligned = client.predict(handle_file(photo), api_name="/process_portrait")[1]
                    client.predict(handle_file(speech), "", "en", False, "", "", api_name="/generate")
                except Exception as exc:  # counted as a failure, reported below
                    return None, time.perf_counter() - started, repr(exc)[:120]
                return client.cookies[COOKIE], time.perf_counter() - started, aligned

            with ThreadPoolExecutor(args.clients) as pool:
                results = list(pool.map(run, jobs))
            cookies = [cookie for cookie, _, _ in results if cookie]
            held = [p for p in server.files() if p.suffix in (".png", ".mp4")]
            owners = {}
            for path in held:
                served = [c for c in cookies if httpx.get(f"{server.url}gradio_api/file={path}",
                                                          cookies={COOKIE: c}, timeout=30).status_code == 200]
                owners[path] = served
            cross_tries = len(held) * max(0, len(cookies) - 1)
            cross_served = sum(max(0, len(served) - 1) for served in owners.values())
            rss = peak_rss_mb(server.process.pid)
        finally:
            stop_server(server)
    latencies = sorted(seconds for cookie, seconds, _ in results if cookie)
    failures = [note for cookie, _, note in results if not cookie]
    print(f"clients: {args.clients}, speech {args.seconds:g} s each")
    print(f"success: {len(latencies)}/{args.clients}" + (f" (failures: {failures})" if failures else ""))
    if latencies:
        p95 = latencies[min(len(latencies) - 1, int(round(0.95 * (len(latencies) - 1))))]
        print(f"latency portrait + generate: p50 {statistics.median(latencies):.1f} s, p95 {p95:.1f} s")
    print(f"server peak RSS (VmHWM): {rss:.0f} MB")
    print(f"cross-fetches served: {cross_served} of {cross_tries}")


if __name__ == "__main__":
    main()
