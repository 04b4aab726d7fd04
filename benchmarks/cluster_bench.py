"""Rendering on a Ray cluster on this machine (a head without CPUs and 1 or 2 one-CPU worker nodes, token auth):
clips per minute for 8 concurrent 10 s renders through the app, against the in-process app; time to the first
rendered segment; the per-task payload; the Ray path's overhead for one render.

On a 2-core machine the cluster's nodes share the app's two cores, so the speed-up is bounded by them; the README
gives the scaling model. Run: `.venv/bin/python -m benchmarks.cluster_bench [--clients N]` from the repository root.
"""

from __future__ import annotations

import argparse
import logging
import os
import pickle
import secrets
import shutil
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
from gradio_client import Client, handle_file

import tests.cluster.conftest as cluster_fixtures  # sets Ray's token authentication up (before Ray is imported)
from benchmarks.samples import astronaut
from linly_demo.audio import Speech
from linly_demo.cluster.gateway import ClusterGateway
from linly_demo.config import Settings
from linly_demo.ephemeral import EphemeralRoot
from linly_demo.portrait.pipeline import PortraitPipeline
from linly_demo.provenance.marking import MarkSpec
from linly_demo.render.driving import driving_from_speech
from linly_demo.render.frames import render_frames, warp_boxes
from linly_demo.render.pipeline import render_video
from linly_demo.render.segments import RenderTemplate, SegmentSpec, chunk_bounds, chunk_of, mark_host
from tests.conftest import encode
from tests.speech import encode_audio, real_speech_with_pauses, synthetic_voice
from tests.web.conftest import start_server, stop_server

CLIP_SECONDS = 10.0


def through_the_app(tmp: Path, clients: int, extra: dict[str, str]) -> tuple[float, float]:
    """(clips per minute, median seconds per generate) for `clients` concurrent portrait + generate calls."""
    face, real = astronaut(), real_speech_with_pauses()
    jobs = []
    for i in range(clients):
        photo, speech = tmp / f"face-{i}.jpg", tmp / f"speech-{i}.flac"
        photo.write_bytes(encode(np.clip(face * (1.0 - 0.03 * i), 0, 255).astype(np.uint8)))
        samples = (real.samples[: int(CLIP_SECONDS * 16000)] if real is not None
                   else synthetic_voice(CLIP_SECONDS, seed=i))
        speech.write_bytes(encode_audio(samples, "flac", "flac"))
        jobs.append((photo, speech))
    server = start_server(tmp / f"app-{secrets.token_hex(2)}", extra={"LINLY_RENDER_CONCURRENCY": str(clients),
                                                                      **extra})
    try:
        def run(job: tuple[Path, Path]) -> float:
            client = Client(server.url, verbose=False, download_files=tmp)  # not /tmp/gradio
            client.predict(handle_file(job[0]), api_name="/process_portrait")
            started = time.perf_counter()
            client.predict(handle_file(job[1]), "", "en", False, "", "", api_name="/generate")
            return time.perf_counter() - started

        run(jobs[0])  # warm-up: models loaded, the cluster's workers started
        started = time.perf_counter()
        with ThreadPoolExecutor(clients) as pool:
            latencies = list(pool.map(run, jobs))
        wall = time.perf_counter() - started
    finally:
        stop_server(server)
    return clients / wall * 60, statistics.median(latencies)


def one_render(local: cluster_fixtures.LocalCluster) -> dict[str, float]:
    """Seconds for one 10 s render in-process and through the gateway; to the first segment; payload bytes."""
    root = Path("/dev/shm") / f"lcb-{secrets.token_hex(3)}"  # nosec B108: tmpfs
    settings = Settings.from_env({"LINLY_EPHEMERAL_DIR": str(root), "LINLY_RAY_ADDRESS": local.address,
                                  "LINLY_RAY_TOKEN_FILE": str(local.token_file),
                                  "LINLY_RAY_TEMP_DIR": str(root) + "-ray"})
    ephemeral = EphemeralRoot.from_settings(settings)
    features = PortraitPipeline(settings).process_bytes(encode(astronaut()))
    speech = real_speech_with_pauses() or Speech(synthetic_voice(CLIP_SECONDS))
    speech = Speech(speech.samples[: int(CLIP_SECONDS * 16000)], speech.sample_rate)
    gateway = ClusterGateway.start(settings)
    figures: dict[str, float] = {}
    try:
        for name, cluster in (("in-process", None), ("cluster", gateway)):
            times = []
            for seed in range(3):
                started = time.perf_counter()
                rendered = render_video(features, speech, ephemeral, seed=seed, cluster=cluster)
                times.append(time.perf_counter() - started)
                ephemeral.delete(rendered.video.path)
            figures[name] = statistics.median(times[1:])
        driving = driving_from_speech(speech, 25, 0)
        started = time.perf_counter()
        next(iter(render_frames(features, driving)))
        figures["first batch in-process"] = time.perf_counter() - started
        face = RenderTemplate(np.asarray(features.template), np.asarray(features.landmarks68))
        boxes = warp_boxes(face, driving)
        face = replace(face, mark_host=mark_host(face, driving, boxes))
        chunks = [chunk_of(driving, a, b, boxes) for a, b in chunk_bounds(driving.n_frames, gateway.chunk_frames)]
        spec = SegmentSpec(512, mark=MarkSpec(1, 2), samples=(0, 80, 160, 249))
        figures["payload template"] = len(pickle.dumps(face))
        figures["payload chunk"] = max(len(pickle.dumps(c)) for c in chunks)
        figures["payload spec"] = len(pickle.dumps(spec))
        figures["chunks"] = len(chunks)
        figures["first segment cluster"] = first_segment(face, chunks, spec)
    finally:
        gateway.close()  # also removes Ray's folder
        ephemeral.wipe()
    return figures


def first_segment(face: RenderTemplate, chunks: list, spec: SegmentSpec) -> float:
    """Seconds from submitting a render's chunks to the first finished segment (the bench process as driver)."""
    import ray  # deferred: after the cluster fixtures set Ray's authentication up

    from linly_demo.cluster import tasks

    ray.init(address=os.environ.get("LINLY_BENCH_RAY_ADDRESS"), log_to_driver=False, logging_level=logging.WARNING)
    try:
        tasks.warm_up(2)
        started = time.perf_counter()
        face_ref = ray.put(face)
        refs = [tasks._submit(face_ref, chunk, spec, 0.0) for chunk in chunks]
        ray.wait(refs, num_returns=1)
        elapsed = time.perf_counter() - started
        ray.get(refs)
        return elapsed
    finally:
        ray.shutdown()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        rate, latency = through_the_app(tmp, args.clients, {})
        rows.append(("in-process app (LINLY_RENDER_CONCURRENCY=clients)", rate, latency))
        for workers in (1, 2):
            local = cluster_fixtures.start_cluster(workers)
            try:
                ray_dir = Path("/dev/shm") / f"lcb-app-{secrets.token_hex(3)}"  # nosec B108: tmpfs
                extra = {"LINLY_RAY_ADDRESS": local.address, "LINLY_RAY_TOKEN_FILE": str(local.token_file),
                         "LINLY_RAY_TEMP_DIR": str(ray_dir)}
                rate, latency = through_the_app(tmp, args.clients, extra)
                rows.append((f"Ray cluster, {workers} worker node(s) of 1 CPU", rate, latency))
                shutil.rmtree(ray_dir, ignore_errors=True)
                if workers == 2:
                    os.environ["LINLY_BENCH_RAY_ADDRESS"] = local.address
                    figures = one_render(local)
            finally:
                cluster_fixtures.stop_cluster(local)
    print(f"{args.clients} concurrent {CLIP_SECONDS:.0f} s renders through the app (portrait + generate each):")
    print("| path | clips per minute | median seconds per generate |")
    print("| --- | --- | --- |")
    for name, rate, latency in rows:
        print(f"| {name} | {rate:.1f} | {latency:.1f} |")
    overhead = figures["cluster"] - figures["in-process"]
    print(f"One {CLIP_SECONDS:.0f} s render (median of 2 after a warm-up): in-process {figures['in-process']:.2f} s, "
          f"through the cluster {figures['cluster']:.2f} s (overhead {overhead:+.2f} s)")
    print(f"Time to the first frames: in-process first batch {figures['first batch in-process']:.2f} s; "
          f"cluster first encoded segment {figures['first segment cluster']:.2f} s")
    print(f"Per-task payload: template + landmarks + the mark's host {figures['payload template'] / 1024:.0f} KiB "
          f"(once per render, in the object store), driving chunk <= {figures['payload chunk'] / 1024:.1f} KiB, spec "
          f"{figures['payload spec']} B; {figures['chunks']:.0f} tasks per 10 s clip")
    cluster_fixtures.pytest_sessionfinish(None, 0)  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
