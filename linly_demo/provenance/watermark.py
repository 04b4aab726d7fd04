"""The invisible watermark: a 48-bit payload (deployment tag, render id) spread over every frame's luma.

Method (spread spectrum on a frame-relative grid, with a synchronisation pattern): the frame is divided into
GRID x GRID cells; a fixed public synchronisation pattern and one pseudo-random +-1 pattern per coded bit
(48 payload bits + a CRC-32) are summed at cell level, the bits' patterns signed by their values, upsampled
smoothly to the frame size, weighted by the local brightness (less in dark areas, where a step shows most) and
added to the luma of every frame: one static offset of about 1.9-2.9 levels (std, on 0-255; PSNR about 40 dB).
The amplitudes are informed by the host picture, the render's estimate of its mean frame, in the centre and in
the border (CROP_SHARE) apart: solved so that each pattern's detector reading there is its target, cancelling what
that picture contributes and what the patterns leak into one another's readings, so a crop to the centre keeps
readings the centre was made to give.
Detection averages the video's frames (moving parts blur, the mark does not), whitens the average (local mean
and contrast removed), finds the synchronisation pattern over scales and positions (FFT cross-correlation over
every offset at each scale: crops and resizes move the grid; the unmoved frame is always among the candidates),
refines the alignment below a cell on the synchronisation pattern and then on the bits' own evidence, and reads
each bit's correlation there, at two whitening widths, each also weighted by how much of the mark every region
kept (a second reading, when the first fails). A payload counts only when its CRC matches, possibly after a Chase
decoder flips up to CHASE_FLIPS of the CHASE_WEAKEST least certain bits: at most (CANDIDATES + 1) x 2 x 2 x
CHASE_TRIALS CRC tests per video, so a video without the mark is reported marked with probability below
6 in a million.

Guarantees: the payload holds a deployment tag and a render id, never anything about the person; embedding is
two saturating additions of a precomputed offset per frame; detection never raises on odd videos (no frames,
tiny frames): it reports "not found". Limits (README's table): strong crops and heavy re-encoding of photos with
strong background texture defeat it; the pattern is public, so it can be detected by anyone and also forged or
removed by someone who reads this code."""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from itertools import combinations

import cv2
import numpy as np

GRID = 64  # cells across the frame (8 px at 512)
SAMPLES_PER_CELL = 4  # the detector's resolution
AMPLITUDE_SYNC, AMPLITUDE_BIT = 1.0, 0.285  # luma levels per cell (0-255 scale), before the host correction
CANDIDATES = 8
RELIABILITY_WIDTH = 4 * SAMPLES_PER_CELL  # detector samples over which a second reading estimates its weights
CROP_SHARE = 0.1  # the border informed apart from the centre (the crop the mark is measured against)
LUMINANCE_EXPONENT, LUMINANCE_WEIGHT_RANGE = 0.7, (0.35, 1.3)
PAYLOAD_BITS, CRC_BITS = 48, 32
CRC_POLY = 0x04C11DB7  # CRC-32 (IEEE 802.3)
SEED = 0x11AD_DE30  # public: any copy of linly-demo can find the mark (README: what that allows)
SCALES = np.round(np.arange(0.70, 1.0001, 0.01), 3)  # visible share of the original frame width searched
WHITEN_SIGMA = 0.25 * SAMPLES_PER_CELL  # detector samples: a narrow high-pass (measured best of 0.15-1.0 cells)
SPREAD_RATIO = 2.0  # the local-contrast window, in whitening widths
READ_SIGMAS = (WHITEN_SIGMA, 2 * WHITEN_SIGMA)  # bits are read at these; the wider keeps more after heavy re-encoding
REFINE_SCALES = np.linspace(-0.008, 0.008, 5)
REFINE_OFFSETS = np.linspace(-1.0, 1.0, 3)  # detector samples
CHASE_WEAKEST, CHASE_FLIPS = 16, 3
CHASE_TRIALS = sum(math.comb(CHASE_WEAKEST, k) for k in range(CHASE_FLIPS + 1))  # CRC tests per reading: 697


@dataclass(frozen=True)
class Payload:
    deployment_tag: int  # 16 bits
    render_id: int  # 32 bits

    def bits(self) -> np.ndarray:
        value = (self.deployment_tag & 0xFFFF) << 32 | (self.render_id & 0xFFFFFFFF)
        data = np.array([(value >> (PAYLOAD_BITS - 1 - i)) & 1 for i in range(PAYLOAD_BITS)], np.uint8)
        return np.concatenate([data, _crc(data)])

    @classmethod
    def from_bits(cls, bits: np.ndarray) -> Payload | None:
        """The payload when the CRC matches, else None."""
        data, check = bits[:PAYLOAD_BITS], bits[PAYLOAD_BITS:]
        if not np.array_equal(_crc(data), check):
            return None
        value = _as_int(data)
        return cls(value >> 32, value & 0xFFFFFFFF)


def _crc(bits: np.ndarray) -> np.ndarray:
    """A CRC of CRC_BITS over a bit sequence."""
    mask = (1 << CRC_BITS) - 1
    register = mask
    for bit in bits:
        top = (register >> (CRC_BITS - 1)) & 1
        register = (register << 1) & mask
        if top ^ int(bit):
            register ^= CRC_POLY
    return np.array([(register >> (CRC_BITS - 1 - i)) & 1 for i in range(CRC_BITS)], np.uint8)


@functools.lru_cache(maxsize=1)
def _patterns() -> tuple[np.ndarray, np.ndarray]:
    """The public synchronisation pattern (GRID, GRID) and the bit patterns (bits, GRID, GRID), +-1."""
    rng = np.random.default_rng(SEED)
    sync = rng.choice((-1.0, 1.0), size=(GRID, GRID))
    bits = rng.choice((-1.0, 1.0), size=(PAYLOAD_BITS + CRC_BITS, GRID, GRID))
    return sync, bits


def _responses(luma: np.ndarray, region: np.ndarray | None = None) -> tuple[np.ndarray, float]:
    """What the detector reads at the unmoved alignment, over the reference samples `region` marks (all when
    None): each bit's correlation and the sync correlation."""
    sync, patterns = _references()
    size = sync.shape[0]
    visible = _whiten(cv2.resize(luma, (size, size), interpolation=cv2.INTER_AREA))
    if region is not None:
        visible = visible * region
    return np.tensordot(patterns, visible, axes=((1, 2), (0, 1))), float((sync * visible).sum())


def luminance_weight(host_luma: np.ndarray) -> np.ndarray:
    """Less mark where the picture is dark: the eye sees a luma step relative to the local brightness, so a flat
    dark background showed the mark as grain (about half the amplitude there now, a little more on bright skin)."""
    local = cv2.GaussianBlur(host_luma, (0, 0), host_luma.shape[1] / GRID)
    weight = ((local + 16.0) / (128.0 + 16.0)) ** LUMINANCE_EXPONENT
    return np.clip(weight, *LUMINANCE_WEIGHT_RANGE).astype(np.float32)


@functools.lru_cache(maxsize=1)
def _regions() -> tuple[tuple[np.ndarray, np.ndarray], ...]:
    """The centre (all but CROP_SHARE of the cells off every border) and the border around it, each as a cell
    mask (GRID, GRID) and a detector-sample mask: the mark is informed on each apart, so a video cropped to its
    centre still reads what the centre was made to read."""
    cells, samples = np.zeros((GRID, GRID), np.float32), np.zeros((GRID * SAMPLES_PER_CELL,) * 2, np.float32)
    edge = int(round(CROP_SHARE * GRID))
    cells[edge:GRID - edge, edge:GRID - edge] = 1
    samples[edge * SAMPLES_PER_CELL:(GRID - edge) * SAMPLES_PER_CELL,
            edge * SAMPLES_PER_CELL:(GRID - edge) * SAMPLES_PER_CELL] = 1
    return (cells, samples), (1 - cells, 1 - samples)


def mark_image(payload: Payload, host_luma: np.ndarray) -> np.ndarray:
    """The luma offset (frame size, float32) that carries `payload` on frames like `host_luma` (their mean
    luma). Informed: in the centre and in the border apart, the amplitudes are solved so that every pattern's
    reading there is its target (the bit's sign, the sync's strength), cancelling what the host contributes
    (up to 3 bit amplitudes) and what the patterns leak into each other's readings (random patterns overlap
    by about 1/GRID each)."""
    sync, patterns = _patterns()
    height, width = host_luma.shape
    weight = luminance_weight(host_luma)
    upsample = lambda cells: weight * cv2.resize(cells.astype(np.float32), (width, height),  # noqa: E731
                                                 interpolation=cv2.INTER_CUBIC)
    every = np.concatenate([patterns, sync[None]])
    flat = every.reshape(len(every), -1).astype(np.float64)
    cell_weight = cv2.resize(weight, (GRID, GRID), interpolation=cv2.INTER_AREA).astype(np.float64).ravel()
    signs = payload.bits().astype(np.float64) * 2 - 1
    targets = np.concatenate([signs * AMPLITUDE_BIT, [AMPLITUDE_SYNC]])
    limits = np.concatenate([np.full(len(patterns), 3 * AMPLITUDE_BIT), [AMPLITUDE_SYNC]])
    cells = np.zeros((GRID, GRID))
    for region_cells, region_samples in _regions():
        host_bits, host_sync = _responses(host_luma, region_samples)
        gain_bit = _responses(host_luma + upsample(patterns[0] * region_cells), region_samples)[0][0] - host_bits[0]
        gain_sync = _responses(host_luma + upsample(sync * region_cells), region_samples)[1] - host_sync
        gains = np.concatenate([np.full(len(patterns), gain_bit), [gain_sync]])
        overlap = (flat * (cell_weight * region_cells.ravel())) @ flat.T  # the patterns' cross-talk here
        overlap /= np.sqrt(np.outer(np.diag(overlap), np.diag(overlap)))
        host = np.concatenate([host_bits, [host_sync]])
        wanted = gains * targets - np.clip(host, -limits * np.abs(gains), limits * np.abs(gains))
        amplitudes = np.linalg.solve(overlap * np.sqrt(np.outer(gains, gains)), wanted)
        cells += region_cells * np.tensordot(amplitudes, every, axes=1)
    return upsample(cells)


@dataclass(frozen=True)
class FrameOffset:
    """A mark rounded to whole levels (frames are whole levels, so adding it rounded is adding it and rounding),
    split into what it raises and what it lowers, (H, W, 3) uint8 each: two saturating additions per frame."""

    up: np.ndarray
    down: np.ndarray

    @classmethod
    def of(cls, mark: np.ndarray) -> FrameOffset:
        levels = np.floor(mark.astype(np.float32) + 0.5)
        spread = lambda part: np.repeat(np.clip(part, 0, 255).astype(np.uint8)[:, :, None], 3, axis=2)  # noqa: E731
        return cls(spread(levels), spread(-levels))


def embed(frames: np.ndarray, offset: FrameOffset) -> np.ndarray:
    """uint8 RGB frames (B, H, W, 3) with the mark (`FrameOffset.of(mark_image(...))`) added, in place; the result
    is clipped to 0-255 like the sum of the frame and the unrounded mark, rounded."""
    for frame in frames:
        cv2.add(frame, offset.up, dst=frame)
        cv2.subtract(frame, offset.down, dst=frame)
    return frames


def _whiten(image: np.ndarray, sigma: float = WHITEN_SIGMA) -> np.ndarray:
    """Local mean and local contrast removed (what remains is mostly the mark's white texture)."""
    image = image.astype(np.float32)
    high = image - cv2.GaussianBlur(image, (0, 0), sigma)
    spread = np.sqrt(cv2.GaussianBlur(high * high, (0, 0), SPREAD_RATIO * sigma)) + 1e-3
    return high / spread


@functools.lru_cache(maxsize=4)
def _references(sigma: float = WHITEN_SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """Sync and bit patterns at detector resolution, whitened like a video would be."""
    sync, patterns = _patterns()
    size = GRID * SAMPLES_PER_CELL

    def prepare(cells: np.ndarray) -> np.ndarray:
        upsampled = cv2.resize(cells.astype(np.float32), (size, size), interpolation=cv2.INTER_CUBIC)
        high = upsampled - cv2.GaussianBlur(upsampled, (0, 0), sigma)
        return high / (high.std() + 1e-6)

    return prepare(sync), np.stack([prepare(p) for p in patterns])


@dataclass(frozen=True)
class Detection:
    found: bool
    payload: Payload | None
    sync_z: float  # the synchronisation peak's strength (standard deviations of the correlation surface)
    bit_confidence: float  # the weakest bit's |correlation| over the typical one (0 when nothing was read)
    scale: float
    offset: tuple[int, int]


LUMA_WEIGHTS = np.asarray([0.299, 0.587, 0.114], np.float32)


def luma(rgb: np.ndarray) -> np.ndarray:
    """Rec. 601 luma of RGB pixels, float32."""
    return rgb.astype(np.float32) @ LUMA_WEIGHTS


def average_luma(frames: list[np.ndarray]) -> np.ndarray:
    """Mean luma of RGB frames (H, W) float32."""
    total = np.zeros(frames[0].shape[:2], np.float64)
    for frame in frames:
        total += luma(frame)
    return (total / len(frames)).astype(np.float32)


def _aligned(mean_luma: np.ndarray, scale: float, top: float, left: float,
             sigma: float = WHITEN_SIGMA) -> tuple[np.ndarray, np.ndarray]:
    """The video's mean luma placed on the reference grid (visible width = `scale` of it, its corner at
    (`top`, `left`) samples), whitened, and the mask of reference samples it covers."""
    size = GRID * SAMPLES_PER_CELL
    height, width = mean_luma.shape
    factor = size * scale / width
    matrix = np.array([[factor, 0.0, left + 0.5 * factor - 0.5], [0.0, factor, top + 0.5 * factor - 0.5]])
    placed = cv2.warpAffine(cv2.GaussianBlur(mean_luma, (0, 0), max(0.5 / factor * 0.5, 0.01)) if factor < 1
                            else mean_luma, matrix, (size, size), flags=cv2.INTER_LINEAR,
                            borderMode=cv2.BORDER_REFLECT)
    covered = cv2.warpAffine(np.ones_like(mean_luma), matrix, (size, size), flags=cv2.INTER_NEAREST,
                             borderValue=0) > 0.5
    covered = cv2.erode(covered.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    return _whiten(placed, sigma) * covered, covered


def _read_bits(visible: np.ndarray, sigma: float = WHITEN_SIGMA) -> tuple[Payload | None, float]:
    """The payload from an aligned image whitened at `sigma` (`decode_bits` of its bit correlations, then, when
    they fail, of a reading weighted by `_reliability`) and the weakest bit's relative margin."""
    _sync, patterns = _references(sigma)
    soft = np.tensordot(patterns, visible, axes=((1, 2), (0, 1)))
    margin = float(np.min(np.abs(soft)) / (float(np.median(np.abs(soft))) + 1e-9))
    payload = decode_bits(soft)
    if payload is None:
        weighted = visible * _reliability(visible, np.tensordot(np.sign(soft), patterns, axes=1))
        payload = decode_bits(np.tensordot(patterns, weighted, axes=((1, 2), (0, 1))))
    return payload, margin


def _reliability(visible: np.ndarray, guess: np.ndarray) -> np.ndarray:
    """How much each detector sample of `visible` is worth, estimated from the mark `guess` its own bit signs
    spell (most are right even when a few are not): the local share of the mark in it over the local power of
    what is not the mark, over RELIABILITY_WIDTH samples (the optimal weight of a signal in noise whose power
    varies, as it does where a textured background lost most of the mark to heavy compression and a smooth face
    kept it), mean 1 over the covered samples."""
    covered = (visible != 0).astype(np.float32)
    blur = lambda image: cv2.GaussianBlur(image.astype(np.float32), (0, 0), RELIABILITY_WIDTH)  # noqa: E731
    share = blur(visible * guess) / (blur(guess * guess * covered) + 1e-6)
    rest = visible - share * guess
    noise = blur(rest * rest) / (blur(covered) + 1e-6) + 1e-3
    weight = np.clip(share, 0.0, None) / noise * covered
    return weight / (float(weight[covered > 0].mean()) + 1e-9) if covered.any() else weight


def decode_bits(soft: np.ndarray, chase: bool = True) -> Payload | None:
    """The payload whose coded bits the signs of `soft` (one correlation per coded bit) spell when the CRC matches;
    with `chase`, also after flipping up to CHASE_FLIPS of the CHASE_WEAKEST least certain bits (a Chase decoder:
    at most CHASE_TRIALS CRC tests, so an unmarked reading passes with probability CHASE_TRIALS / 2**CRC_BITS)."""
    hard = (soft > 0).astype(np.uint8)
    weakest = [int(i) for i in np.argsort(np.abs(soft))[:CHASE_WEAKEST]]
    syndrome, flip_syndromes = _syndrome(hard), _flip_syndromes()
    for count in range(0, (CHASE_FLIPS if chase else 0) + 1):
        for flips in combinations(weakest, count):
            remainder = syndrome
            for index in flips:
                remainder ^= flip_syndromes[index]
            if remainder == 0:
                bits = hard.copy()
                bits[list(flips)] ^= 1
                return Payload.from_bits(bits)
    return None


def _as_int(bits: np.ndarray) -> int:
    value = 0
    for bit in bits:
        value = value << 1 | int(bit)
    return value


def _syndrome(bits: np.ndarray) -> int:
    """The CRC of the coded bits' data part XOR their check part: 0 exactly when the CRC matches."""
    return _as_int(_crc(bits[:PAYLOAD_BITS])) ^ _as_int(bits[PAYLOAD_BITS:])


@functools.lru_cache(maxsize=1)
def _flip_syndromes() -> tuple[int, ...]:
    """What flipping each coded bit does to the syndrome: the CRC is affine in its input, so the flips of a set
    of bits add up by XOR and a chase tests each set with a few integer operations."""
    zero = np.zeros(PAYLOAD_BITS + CRC_BITS, np.uint8)
    base, changes = _syndrome(zero), []
    for index in range(len(zero)):
        flipped = zero.copy()
        flipped[index] = 1
        changes.append(_syndrome(flipped) ^ base)
    return tuple(changes)


def detect(mean_luma: np.ndarray) -> Detection:
    """Search the mark in a video's mean luma (see the module docstring)."""
    nothing = Detection(False, None, 0.0, 0.0, 1.0, (0, 0))
    if mean_luma.ndim != 2 or min(mean_luma.shape) < 32:
        return nothing
    mean_luma = mean_luma.astype(np.float32)
    sync, _patterns_ = _references()
    size = sync.shape[0]
    sync_spectrum = np.fft.rfft2(sync)
    candidates = []
    surfaces = []
    unmoved = None
    height, width = mean_luma.shape
    for scale in SCALES:
        seen_w = int(round(size * scale))
        seen_h = int(round(size * scale * height / width))
        if seen_h > size or seen_h < 16:
            continue
        visible = _whiten(cv2.resize(mean_luma, (seen_w, seen_h), interpolation=cv2.INTER_AREA))
        padded = np.zeros((size, size), np.float32)
        padded[:seen_h, :seen_w] = visible
        surface = np.fft.irfft2(np.conj(np.fft.rfft2(padded)) * sync_spectrum, s=(size, size))
        valid = surface[:size - seen_h + 1, :size - seen_w + 1] / np.sqrt(seen_w * seen_h)
        surfaces.append(valid.ravel())
        for flat in np.argsort(valid.ravel())[-2:]:
            row, column = (int(v) for v in np.unravel_index(int(flat), valid.shape))
            candidates.append((float(valid[row, column]), float(scale), row, column))
        if scale == 1.0:
            unmoved = (float(valid[0, 0]), 1.0, 0, 0)
    if not candidates:
        return nothing
    everything = np.concatenate(surfaces)
    centre, spread = float(np.median(everything)), float(np.std(everything)) + 1e-9
    best: Detection | None = None
    ordered = sorted(candidates, key=lambda c: -c[0])[:CANDIDATES]
    if unmoved is not None and unmoved[1:] not in [c[1:] for c in ordered]:
        ordered.append(unmoved)  # the frame as made: the usual case (re-encoded, recoloured, cut in time)
    for value, scale, top, left in ordered:
        # refine scale and offset below one detector sample on the synchronisation pattern
        refined, refined_value = (scale, float(top), float(left)), -np.inf
        for d_scale in REFINE_SCALES:
            for d_top in REFINE_OFFSETS:
                for d_left in REFINE_OFFSETS:
                    trial = (scale + d_scale, top + d_top, left + d_left)
                    placed, covered = _aligned(mean_luma, *trial)
                    score = float((sync * placed).sum() / np.sqrt(max(covered.sum(), 1)))
                    if score > refined_value:
                        refined, refined_value = trial, score
        # then on the bits' own evidence (their total |correlation|), which the host's leak into the
        # synchronisation pattern does not bias
        placed, evidence, best_trial = np.zeros_like(sync), -np.inf, refined
        for d_scale in (-0.003, 0.0, 0.003):
            for d_top in (-0.5, 0.0, 0.5):
                for d_left in (-0.5, 0.0, 0.5):
                    trial = (refined[0] + d_scale, refined[1] + d_top, refined[2] + d_left)
                    image, _covered = _aligned(mean_luma, *trial)
                    total = float(np.abs(np.tensordot(_patterns_, image, axes=((1, 2), (0, 1)))).sum())
                    if total > evidence:
                        placed, evidence, best_trial = image, total, trial
        refined = best_trial
        strength = (max(value, refined_value) - centre) / spread
        payload, margin = _read_bits(placed)
        for sigma in READ_SIGMAS[1:]:
            if payload is None:
                payload, _margin = _read_bits(_aligned(mean_luma, *refined, sigma)[0], sigma)
        detection = Detection(payload is not None, payload, strength, margin, refined[0],
                              (int(round(refined[1])), int(round(refined[2]))))
        if payload is not None:
            return detection
        best = best or detection
    assert best is not None
    return best
