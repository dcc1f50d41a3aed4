"""The depth backend, a plug-in point: an operator's own ONNX monocular depth model.

MiniMaker ships no depth network and downloads none: an operator who has one (MiDaS, Depth
Anything, ... exported to ONNX, with a licence they have checked) names its file in the
`generation_depth_model` setting, and reliefs take their shape from it instead of from the
inflated silhouette. The model's contract: one input (1, 3, H, W) float32, RGB in [0, 1]
normalised with the ImageNet mean and standard deviation; one output whose values, reshaped
to (H', W'), are relative inverse depth (larger = nearer), as those models give. A fixed
input size is honoured, a dynamic one gets the grid rounded to a multiple of 32 (at most
DYNAMIC_SIDE). The session is loaded once per process and file, on first use.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray

from minimaker.kernel.errors import ConfigurationError, GenerationFailed

#: Longest side fed to a model with a dynamic input size.
DYNAMIC_SIDE = 384
_MEAN = np.array([0.485, 0.456, 0.406], dtype=np.float32)
_STD = np.array([0.229, 0.224, 0.225], dtype=np.float32)

_lock = threading.Lock()
_sessions: dict[Path, OnnxDepthModel] = {}


class DepthModel(Protocol):
    """What a relief asks of a depth backend."""

    def depth(self, rgb: NDArray[np.uint8]) -> NDArray[np.float64]:
        """(rows, cols) in [0, 1] for an RGB grid (rows, cols, 3): 1 nearest, 0 farthest."""
        ...


class OnnxDepthModel:
    """An ONNX depth model run by onnxruntime on the CPU, one thread (background work)."""

    def __init__(self, path: Path) -> None:
        import onnxruntime as ort  # imported here: only an operator's depth model needs it

        options = ort.SessionOptions()
        options.intra_op_num_threads, options.inter_op_num_threads = 1, 1
        try:
            self._session = ort.InferenceSession(
                str(path), sess_options=options, providers=["CPUExecutionProvider"]
            )
        except Exception as exc:  # onnxruntime raises its own untyped errors for bad files
            raise ConfigurationError("the depth model could not be loaded") from exc
        inputs = self._session.get_inputs()
        if len(inputs) != 1 or len(inputs[0].shape) != 4:
            raise ConfigurationError("the depth model must take one (1, 3, H, W) input")
        self._input = inputs[0].name
        shape = inputs[0].shape
        self._fixed = (shape[2], shape[3]) if all(isinstance(s, int) for s in shape[2:]) else None
        self._lock = threading.Lock()

    def depth(self, rgb: NDArray[np.uint8]) -> NDArray[np.float64]:
        import cv2  # as onnxruntime: loaded where depth is used

        rows, cols = rgb.shape[:2]
        height, width = self._fixed or _dynamic_size(rows, cols)
        resized = cv2.resize(rgb, (width, height), interpolation=cv2.INTER_AREA)
        tensor = ((resized.astype(np.float32) / 255.0 - _MEAN) / _STD).transpose(2, 0, 1)[None]
        with self._lock:  # one session, one run at a time: bounded memory per process
            outputs: list[Any] = self._session.run(None, {self._input: tensor})
        out = np.asarray(outputs[0], dtype=np.float32).squeeze()
        if out.ndim != 2 or not np.isfinite(out).all():
            raise GenerationFailed("the depth model gave no depth map")
        out = np.asarray(cv2.resize(out, (cols, rows), interpolation=cv2.INTER_LINEAR), np.float32)
        low, high = np.percentile(out, (2, 98))
        scaled = (out - low) / max(float(high - low), 1e-6)
        return np.asarray(np.clip(scaled, 0.0, 1.0), dtype=np.float64)


def _dynamic_size(rows: int, cols: int) -> tuple[int, int]:
    scale = min(1.0, DYNAMIC_SIDE / max(rows, cols))
    return max(32, round(rows * scale / 32) * 32), max(32, round(cols * scale / 32) * 32)


def depth_model(path: Path | None) -> OnnxDepthModel | None:
    """The operator's depth model at `path`, loaded once per process; None if none is set."""
    if path is None:
        return None
    resolved = Path(path).resolve()
    with _lock:
        if resolved not in _sessions:
            if not resolved.is_file():
                raise ConfigurationError("the depth model file does not exist")
            _sessions[resolved] = OnnxDepthModel(resolved)
        return _sessions[resolved]
