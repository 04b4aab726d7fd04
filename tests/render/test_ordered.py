"""Batches rendered on several threads come back in order, bounded, with errors raised where they happen."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest

from linly_demo.audio import Speech
from linly_demo.portrait.pipeline import PortraitFeatures
from linly_demo.render.driving import driving_from_speech
from linly_demo.render.frames import render_frames
from linly_demo.render.ordered import in_order
from tests.speech import synthetic_voice


def test_results_come_in_order_whatever_order_they_finish_in() -> None:
    def slow_first(item: int) -> int:
        time.sleep(0.02 if item % 2 == 0 else 0.0)
        return item * item

    assert list(in_order(slow_first, range(9), workers=3)) == [i * i for i in range(9)]
    assert list(in_order(slow_first, range(9), workers=1)) == [i * i for i in range(9)]


def test_at_most_workers_results_are_computed_ahead_of_the_consumer() -> None:
    started: list[int] = []
    lock = threading.Lock()

    def record(item: int) -> int:
        with lock:
            started.append(item)
        return item

    results = in_order(record, range(20), workers=2)
    for taken, item in enumerate(results):
        time.sleep(0.01)  # a slow consumer: the workers must wait for it
        with lock:
            assert len(started) <= taken + 1 + 2, (taken, started)
        assert item == taken


def test_an_error_is_raised_at_its_item_and_nothing_keeps_running() -> None:
    def fail_at_three(item: int) -> int:
        if item == 3:
            raise ValueError("bad batch")
        return item

    taken = []
    with pytest.raises(ValueError, match="bad batch"):
        for item in in_order(fail_at_three, range(10), workers=2):
            taken.append(item)
    assert taken == [0, 1, 2]
    time.sleep(0.05)
    assert not [t for t in threading.enumerate() if t.name.startswith("linly-render")]


def test_a_consumer_that_stops_early_leaves_no_thread_behind() -> None:
    done: list[int] = []
    results = in_order(lambda item: done.append(item) or item, range(100), workers=2)
    assert next(results) == 0
    results.close()
    assert len(done) <= 4  # the rest were never started
    assert not [t for t in threading.enumerate() if t.name.startswith("linly-render")]


def test_frames_do_not_depend_on_how_many_threads_render_them(astronaut_features: PortraitFeatures) -> None:
    driving = driving_from_speech(Speech(synthetic_voice(1.5)), 25, seed=3)
    one = np.concatenate(list(render_frames(astronaut_features, driving, batch_size=8, workers=1)))
    two = np.concatenate(list(render_frames(astronaut_features, driving, batch_size=8, workers=2)))
    assert one.shape[0] == len(driving.coefficients)
    assert np.array_equal(one, two)
