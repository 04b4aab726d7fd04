"""A real browser (Debian's Chromium, driven by Playwright): consent gating, portrait + text -> a video that plays."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.conftest import FACES, encode
from tests.web.conftest import start_server, stop_server

pytestmark = pytest.mark.browser

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@pytest.fixture(scope="module")
def browser_server(tmp_path_factory: pytest.TempPathFactory):
    running = start_server(tmp_path_factory.mktemp("browser-app"))
    yield running
    stop_server(running)


@pytest.mark.skipif(not os.path.exists(CHROMIUM), reason="Debian's chromium is not installed (.ci/run installs it)")
def test_consent_gating_and_portrait_to_video_in_chromium(browser_server, tmp_path: Path,
                                                         astronaut: np.ndarray) -> None:
    from playwright.sync_api import expect, sync_playwright

    photo = tmp_path / "Jane Doe.jpg"
    source = FACES / "lin-manuel-miranda.png"
    photo.write_bytes(source.read_bytes() if source.exists() else encode(astronaut))
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM,
                                             args=["--autoplay-policy=no-user-gesture-required"])
        page = browser.new_page(viewport={"width": 1280, "height": 1800})
        page.goto(browser_server.url)

        consent = page.locator("#consent input[type=checkbox]")
        enroll = page.locator("#enroll")
        use_mine = page.locator("#use-my-voice input[type=checkbox]")
        expect(consent).to_be_visible(timeout=60_000)
        expect(consent).not_to_be_checked()
        expect(enroll).to_be_disabled()
        expect(use_mine).to_be_disabled()
        consent.check()
        expect(enroll).to_be_enabled()
        expect(use_mine).to_be_enabled()
        consent.uncheck()
        expect(enroll).to_be_disabled()
        expect(use_mine).to_be_disabled()

        page.locator("#portrait input[type=file]").set_input_files(str(photo))
        expect(page.locator("#face-info")).to_contain_text("original photo has been deleted", timeout=60_000)
        expect(page.locator("#aligned img")).to_be_visible()
        page.locator("#text textarea").fill("Maybe Bob put the blue boat by the pier.")
        page.locator("#generate").click()
        video = page.locator("#video video")
        expect(video).to_be_visible(timeout=120_000)
        page.wait_for_function(
            "() => { const v = document.querySelector('#video video'); return v && v.readyState >= 2; }",
            timeout=60_000)
        video.evaluate("v => { v.muted = true; return v.play(); }")
        page.wait_for_function("() => document.querySelector('#video video').currentTime > 0.3", timeout=30_000)
        assert video.evaluate("v => v.videoWidth") == 512
        expect(page.locator("#privacy")).to_contain_text("video")
        screenshot = Path(os.environ.get("LINLY_SCREENSHOT_DIR", tmp_path)) / "finished-page.png"
        page.screenshot(path=str(screenshot), full_page=True)

        page.locator("#erase").click()
        expect(page.locator("#erase-status")).to_contain_text("Erased", timeout=30_000)
        browser.close()

    assert browser_server.files() == []
    audit = browser_server.audit.read_text()
    lines = [json.loads(line) for line in audit.splitlines()]
    assert {"portrait.processed", "render.completed", "session.erased"} <= {line["event"] for line in lines}
    for secret in ("Jane", "Doe", ".jpg", "/dev/shm", str(tmp_path), "linly_session", "Maybe Bob"):
        assert secret not in audit
    assert not any(isinstance(v, list) for line in lines for v in line.values())  # no embeddings
