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
    _read_bits,
    _references,
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


def test_a_reading_weighted_by_what_each_region_kept_recovers_a_payload_the_plain_reading_loses() -> None:
    """A whitened video where 40% of the frame kept a weak mark and the rest lost it to texture (as a textured
    background does under heavy compression): the plain correlation spreads its trust evenly and fails; the
    second reading weights each region by the mark share it kept (estimated from the plain reading's own signs)."""
    _sync, references = _references()
    plain_decoded, weighted_decoded = 0, 0
    for seed in range(8):
        rng = np.random.default_rng(seed)
        payload = Payload(0x3000 + seed, 0xCAFE0000 + seed)
        mark = np.tensordot(payload.bits() * 2.0 - 1, references, axes=1)
        mark /= mark.std()
        kept = np.arange(mark.shape[1]) >= 0.6 * mark.shape[1]
        noise = rng.standard_normal(mark.shape)
        visible = np.where(kept[None, :], 0.16 * mark + noise, noise).astype(np.float32)
        plain_decoded += decode_bits(np.tensordot(references, visible, axes=((1, 2), (0, 1)))) == payload
        weighted_decoded += _read_bits(visible)[0] == payload
    assert plain_decoded <= 3 and weighted_decoded == 8, (plain_decoded, weighted_decoded)
