"""Quality metrics of an output video, measured on its decoded frames by an independent detector.

dlib's HOG face detector and 68-point landmarks look at each frame (never at the coefficients that drove the
render); the soundtrack is decoded from the same file. Reported: lip-sync correlation (inner-lip gap vs audio
loudness), mouth gap in silences relative to speech, identity distance to the portrait (dlib's 128-d face
descriptor, raw scale where 0.6 is dlib's same-person threshold), and the share of frames with a face.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import av
import cv2
import dlib
import numpy as np

from linly_demo.articulation import articulation
from linly_demo.audio import decode_audio
from linly_demo.face_geometry import FrameMeasurements, inner_lip_gap
from linly_demo.naturalness import (
    NATURALNESS_TARGETS,
    Naturalness,
    meets,
    naturalness,
    naturalness_passes,
    sharpness_ratio,
)
from linly_demo.portrait.embed import DlibEmbedder
from linly_demo.portrait.identity import IdentityCheck
from linly_demo.portrait.landmarks import LandmarkModel, shape_to_array
from linly_demo.voice.tts import SynthesizedSpeech

TARGETS = {
    "lip_sync_r": (">=", 0.6),
    "silence_gap_ratio": ("<=", 0.15),
    "identity_distance_mean": ("<=", 0.35),
    "face_detected_rate": (">=", 0.99),
}
# Measured only when the text is known (`evaluate --text`; see linly_demo/articulation.py).
TEXT_TARGETS = {
    "bilabial_closure_rate": (">=", 0.9),
    "rounding_contrast": (">=", 0.05),
}
# Silence: quieter than the clip's loud speech by 30 dB, for at least 200 ms (the frames at each end excluded).
SILENCE_DB_BELOW_PEAK = 30.0
SILENCE_MIN_FRAMES = 5
IDENTITY_EVERY = 10  # descriptor on every 10th frame (400 ms apart)
MAX_LAG_FRAMES = 3
DETECT_SIZE = 256


@dataclass(frozen=True)
class QualityReport:
    """Metrics of one video; `passes` compares them with TARGETS."""

    frames: int
    fps: float
    face_detected_rate: float
    lip_sync_r: float
    lip_sync_best_r: float
    lip_sync_best_lag_ms: float
    silence_gap_ratio: float | None
    silence_frames: int
    identity_distance_mean: float | None
    identity_distance_max: float | None
    facenet_identity_distance_mean: float | None = None  # the product's embedder, beside dlib's judge
    bilabial_closure_rate: float | None = None  # with the text only
    bilabial_count: int = 0
    bilabial_worst_share: float | None = None  # the least closed p/b/m's gap over the closure threshold (< 1 closed)
    rounding_contrast: float | None = None
    mouth_width_rounded: float | None = None
    mouth_width_spread: float | None = None
    # Naturalness (linly_demo/naturalness.py): reported, with its own targets, not yet part of `passes`.
    gap_reversals_per_s: float | None = None
    gap_high_frequency_share: float | None = None
    head_roll_std_deg: float | None = None
    head_travel: float | None = None
    blinks_per_minute: float | None = None
    sharpness_ratio: float | None = None  # with the photo only
    mouth_opening_p90: float | None = None  # inner-lip gap over the eye distance: how wide it opens
    mouth_opening_max: float | None = None

    def targets(self) -> dict[str, tuple[str, float]]:
        return {**TARGETS, **(TEXT_TARGETS if self.bilabial_closure_rate is not None else {})}

    def passes(self) -> dict[str, bool]:
        return {name: meets(getattr(self, name), op, bound) for name, (op, bound) in self.targets().items()}

    def as_dict(self) -> dict[str, object]:
        data = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in asdict(self).items()}
        data["targets"] = {name: f"{op} {bound}" for name, (op, bound) in self.targets().items()}
        data["passes"] = self.passes()
        data["naturalness_targets"] = {name: f"{op} {bound}" for name, (op, bound) in NATURALNESS_TARGETS.items()}
        data["naturalness_passes"] = self.naturalness_passes()
        return data

    def naturalness_passes(self) -> dict[str, bool]:
        return naturalness_passes(Naturalness(self.gap_reversals_per_s, self.gap_high_frequency_share,
                                              self.head_roll_std_deg, self.head_travel, self.blinks_per_minute,
                                              self.sharpness_ratio))


class VideoEvaluator:
    """Loads dlib's models once; evaluates any number of videos."""

    def __init__(self) -> None:
        self._landmarks = LandmarkModel()
        self._detector = dlib.get_frontal_face_detector()
        self._embedder = DlibEmbedder()

    def reference_descriptor(self, template: np.ndarray, landmarks68: np.ndarray) -> np.ndarray:
        return self._embedder.raw_descriptor(template, landmarks68)

    def evaluate(self, path: str | Path, reference: np.ndarray | None = None, text: str | None = None,
                 language: str = "en", photo: np.ndarray | None = None,
                 identity: IdentityCheck | None = None, spoken: SynthesizedSpeech | None = None) -> QualityReport:
        """Measure a video; `reference` is the portrait's raw dlib descriptor (else the first detected frame's);
        with `text` (what the video says) also the bilabial closure rate and the rounding contrast; always the
        naturalness statistics, and with `photo` (RGB) the sharpness of frame 0 against it; with `identity` (the
        portrait's IdentityCheck) also the product embedder's distance on every IDENTITY_EVERY-th frame; `spoken`
        is the synthesis the video was made from, when known (see articulation)."""
        frames, fps = _decode_frames(path)
        landmarks = self._landmarks_per_frame(frames)
        descriptors = [self._embedder.raw_descriptor(frame, marks)
                       for frame, marks in zip(frames[::IDENTITY_EVERY], landmarks[::IDENTITY_EVERY], strict=True)
                       if np.isfinite(marks).all()]
        speech = decode_audio(Path(path).read_bytes(), 1 << 31, 3600)
        envelope = loudness_envelope(speech.samples, speech.sample_rate, fps, len(frames))
        measured = FrameMeasurements(np.stack(landmarks).astype(np.float32), envelope, fps)
        if reference is None and descriptors:
            reference = descriptors[0]
        report = summarise(measured, descriptors, reference)
        if text:
            report = replace(report, **articulation(measured, speech, text, language, spoken).as_fields())
        if identity is not None:
            facenet = identity.distances(frames[::IDENTITY_EVERY])
            report = replace(report, facenet_identity_distance_mean=float(np.mean(facenet)))
        motion = naturalness(measured)
        if photo is not None and np.isfinite(measured.landmarks[0]).all():
            photo_shape = self._detect(photo)
            if photo_shape is not None:
                motion = replace(motion, sharpness_ratio=sharpness_ratio(frames[0], measured.landmarks[0], photo,
                                                                         shape_to_array(photo_shape)))
        return replace(report, **motion.as_fields())

    def motion(self, path: str | Path) -> Naturalness:
        """The naturalness statistics alone, from the frames (any soundtrack, or none)."""
        frames, fps = _decode_frames(path)
        return naturalness(FrameMeasurements(np.stack(self._landmarks_per_frame(frames)), np.zeros(len(frames)), fps))

    def _landmarks_per_frame(self, frames: list[np.ndarray]) -> list[np.ndarray]:
        """dlib's 68 points on each frame; NaN where no face is found."""
        landmarks = []
        for frame in frames:
            shape = self._detect(frame)
            landmarks.append(np.full((68, 2), np.nan, np.float32) if shape is None else shape_to_array(shape))
        return landmarks

    def _detect(self, frame: np.ndarray) -> dlib.full_object_detection | None:
        # A portrait video's face fills much of the frame: detect at about 256 px (HOG's 80 px window fits it).
        factor = max(1, frame.shape[0] // DETECT_SIZE)
        small = cv2.resize(frame, (frame.shape[1] // factor, frame.shape[0] // factor), interpolation=cv2.INTER_AREA)
        found = list(self._detector(small, 0)) or list(self._detector(small, 1))
        if not found:
            return None
        best = max(found, key=lambda r: r.width())
        rect = dlib.rectangle(best.left() * factor, best.top() * factor, best.right() * factor,
                              best.bottom() * factor)
        return self._landmarks.shape(frame, rect)


def _decode_frames(path: str | Path) -> tuple[list[np.ndarray], float]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        fps = float(stream.average_rate or 25)
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(stream)]
    return frames, fps


def loudness_envelope(samples: np.ndarray, rate: int, fps: float, n_frames: int) -> np.ndarray:
    """RMS over 40 ms around each frame's midpoint."""
    half = int(rate * 0.02)
    padded = np.pad(samples.astype(np.float64), (half, half))
    centres = ((np.arange(n_frames) + 0.5) / fps * rate).astype(int) + half
    return np.array([np.sqrt(np.mean(padded[c - half:c + half] ** 2)) if c + half <= len(padded) else 0.0
                     for c in centres])


def silence_mask(envelope: np.ndarray) -> np.ndarray:
    db = 20 * np.log10(envelope + 1e-9)
    quiet = db < np.percentile(db, 95) - SILENCE_DB_BELOW_PEAK
    mask = np.zeros_like(quiet)
    start = None
    for i, q in enumerate(np.append(quiet, False)):
        if q and start is None:
            start = i
        elif not q and start is not None:
            if i - start >= SILENCE_MIN_FRAMES:
                mask[start + 1:i - 1] = True
            start = None
    return mask


def _pearson(a: np.ndarray, b: np.ndarray) -> float:
    ok = np.isfinite(a) & np.isfinite(b)
    if ok.sum() < 3 or np.std(a[ok]) == 0 or np.std(b[ok]) == 0:
        return 0.0
    return float(np.corrcoef(a[ok], b[ok])[0, 1])


def summarise(measured: FrameMeasurements, descriptors: list[np.ndarray],
              reference: np.ndarray | None) -> QualityReport:
    gap = inner_lip_gap(measured.landmarks)
    envelope = measured.envelope
    found = np.isfinite(gap)
    r0 = _pearson(gap, envelope)
    lags = {}
    for lag in range(-MAX_LAG_FRAMES, MAX_LAG_FRAMES + 1):
        if lag >= 0:
            lags[lag] = _pearson(gap[: len(gap) - lag], envelope[lag:])
        else:
            lags[lag] = _pearson(gap[-lag:], envelope[: len(envelope) + lag])
    best_lag = max(lags, key=lambda lag: lags[lag])
    silent = silence_mask(envelope) & found
    db = 20 * np.log10(envelope + 1e-9)
    speaking = (db > np.percentile(db, 95) - 20.0) & found
    ratio = None
    if silent.sum() >= 3 and speaking.sum() >= 3:
        ratio = float(np.median(gap[silent]) / max(np.median(gap[speaking]), 1e-6))
    distances = [float(np.linalg.norm(d - reference)) for d in descriptors] if reference is not None else []
    return QualityReport(
        frames=len(gap),
        fps=measured.fps,
        face_detected_rate=float(found.mean()) if len(found) else 0.0,
        lip_sync_r=r0,
        lip_sync_best_r=lags[best_lag],
        lip_sync_best_lag_ms=1000.0 * best_lag / measured.fps,
        silence_gap_ratio=ratio,
        silence_frames=int(silent.sum()),
        identity_distance_mean=float(np.mean(distances)) if distances else None,
        identity_distance_max=float(np.max(distances)) if distances else None,
    )
