"""The watermark's code and embedding: a payload survives up to CHASE_FLIPS wrong bits among the least certain
ones, readings of videos without a mark (random correlations) never pass the CRC, and the mark is added to the
frames exactly (rounded, clipped at black and white)."""

from __future__ import annotations

import numpy as np

from linly_demo.provenance.watermark import (
    CHASE_FLIPS,
    CHASE_WEAKEST,
    CRC_BITS,
    PAYLOAD_BITS,
    FrameOffset,
    Payload,
    decode_bits,
    embed,
)


def _soft(payload: Payload, rng: np.random.Generator) -> np.ndarray:
    """Correlations as a detector reads them: the coded bits' signs, each with a random certainty."""
    signs = payload.bits().astype(np.float64) * 2 - 1
    return signs * rng.uniform(1.0, 3.0, size=signs.size)


def test_the_code_carries_48_bits_and_a_crc_32() -> None:
    payload = Payload(0xBEEF, 0xDEADBEEF)
    assert payload.bits().size == PAYLOAD_BITS + CRC_BITS == 80
    assert Payload.from_bits(payload.bits()) == payload
    assert decode_bits(_soft(payload, np.random.default_rng(0)), chase=False) == payload


def test_up_to_three_wrong_bits_among_the_least_certain_are_corrected() -> None:
    rng = np.random.default_rng(1)
    for trial in range(200):
        payload = Payload(int(rng.integers(1 << 16)), int(rng.integers(1 << 32)))
        soft = _soft(payload, rng)
        wrong = rng.choice(soft.size, size=int(rng.integers(1, CHASE_FLIPS + 1)), replace=False)
        soft[wrong] = -soft[wrong] * 0.1  # wrong and uncertain: among the CHASE_WEAKEST least certain
        assert decode_bits(soft, chase=False) is None
        assert decode_bits(soft) == payload, trial


def test_wrong_bits_the_decoder_cannot_reach_give_no_payload_not_a_wrong_one() -> None:
    rng = np.random.default_rng(2)
    for _ in range(50):
        payload = Payload(int(rng.integers(1 << 16)), int(rng.integers(1 << 32)))
        soft = _soft(payload, rng)
        wrong = rng.choice(soft.size, size=CHASE_FLIPS + 1, replace=False)
        soft[wrong] = -soft[wrong] * 0.1
        assert decode_bits(soft) is None
        soft = _soft(payload, rng)
        soft[wrong[:1]] = -soft[wrong[:1]] * 10  # one confident wrong bit, outside the least certain
        assert np.argsort(np.abs(soft))[-1] == wrong[0] and soft.size > CHASE_WEAKEST
        assert decode_bits(soft) is None


def test_random_readings_never_pass_the_crc() -> None:
    rng = np.random.default_rng(3)
    assert not any(decode_bits(rng.standard_normal(PAYLOAD_BITS + CRC_BITS)) for _ in range(3000))


def test_embedding_adds_the_rounded_mark_and_saturates_at_black_and_white() -> None:
    rng = np.random.default_rng(4)
    frames = rng.integers(0, 256, size=(3, 32, 32, 3), dtype=np.uint8)
    frames[0] = 0
    frames[1] = 255
    mark = rng.normal(0.0, 6.0, size=(32, 32)).astype(np.float32)
    expected = np.clip(frames.astype(np.int32) + np.floor(mark + 0.5).astype(np.int32)[None, :, :, None], 0, 255)
    marked = embed(frames, FrameOffset.of(mark))
    assert marked is frames and np.array_equal(frames, expected)
