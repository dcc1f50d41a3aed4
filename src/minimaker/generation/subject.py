"""Which samples of a photo are its subject: GrabCut seeded by a face, else by the centre.

Nothing is downloaded: the face box comes from the CenterFace detector the corpus already
ships (corpus/faces.py, its weights in the package). With a face, the person is taken to be
the face and the body below it (a portrait's layout); without one, the subject is taken to
sit in the middle, as photographers frame it. OpenCV's GrabCut then follows the colours to
the subject's real outline. GrabCut runs on a copy at most WORK_SIDE samples long (its cost
grows with the pixels, its outline needs no more), and the mask is scaled back to the grid.
"""

from __future__ import annotations

import cv2
import numpy as np
from numpy.typing import NDArray

from minimaker.corpus import faces

#: Longest side GrabCut works on.
WORK_SIDE = 224
#: Below this side there is no outline worth finding: the centre ellipse is the subject.
MIN_SIDE = 16
#: Smallest face (in working samples) that seeds a person; smaller ones are texture.
MIN_FACE = 12
_ITERATIONS = 3
#: A mask covering less or more than this share of the photo is no separation: centre prior.
_PLAUSIBLE = (0.03, 0.97)


def subject_mask(rgb: NDArray[np.uint8]) -> NDArray[np.bool_]:
    """True where the subject is, on the (rows, cols) grid of the RGB samples."""
    rows, cols = rgb.shape[:2]
    if min(rows, cols) < MIN_SIDE:
        return centre_ellipse(rows, cols, 0.42, 0.45)
    scale = min(1.0, WORK_SIDE / max(rows, cols))
    w, h = max(MIN_SIDE, round(cols * scale)), max(MIN_SIDE, round(rows * scale))
    small = cv2.resize(rgb, (w, h), interpolation=cv2.INTER_AREA) if scale < 1 else rgb
    small = np.ascontiguousarray(small, dtype=np.uint8)
    found = _grabcut(small, _seed(small))
    share = float(found.mean()) if found is not None else 0.0
    if found is None or not _PLAUSIBLE[0] <= share <= _PLAUSIBLE[1]:
        found = centre_ellipse(h, w, 0.42, 0.45)
    if found.shape != (rows, cols):
        grown = cv2.resize(found.astype(np.float32), (cols, rows), interpolation=cv2.INTER_LINEAR)
        found = grown > 0.5
    return found


def centre_ellipse(rows: int, cols: int, rx: float, ry: float) -> NDArray[np.bool_]:
    """An ellipse about the centre with semi-axes rx * cols and ry * rows."""
    yy, xx = np.mgrid[0:rows, 0:cols]
    cy, cx = (rows - 1) / 2.0, (cols - 1) / 2.0
    inside: NDArray[np.bool_] = ((xx - cx) / (rx * cols)) ** 2 + ((yy - cy) / (ry * rows)) ** 2 <= 1
    return inside


def _seed(rgb: NDArray[np.uint8]) -> NDArray[np.uint8]:
    """GrabCut's starting labels: probably background, the likely subject probably foreground,
    its core surely foreground, a thin frame surely background."""
    rows, cols = rgb.shape[:2]
    seed = np.full((rows, cols), cv2.GC_PR_BGD, dtype=np.uint8)
    frame = max(1, round(0.02 * min(rows, cols)))
    seed[:frame, :], seed[:, :frame], seed[:, -frame:] = cv2.GC_BGD, cv2.GC_BGD, cv2.GC_BGD
    face = _largest_face(rgb)
    if face is None:
        seed[centre_ellipse(rows, cols, 0.40, 0.43)] = cv2.GC_PR_FGD
        seed[centre_ellipse(rows, cols, 0.10, 0.12)] = cv2.GC_FGD
        return seed
    left, top, right, bottom = face
    fw, fh = right - left, bottom - top
    # a portrait: the head, and the shoulders and body widening below it to the photo's edge
    body = (max(0, round(left - 1.6 * fw)), max(0, round(top - 0.35 * fh)))
    seed[body[1] :, body[0] : min(cols, round(right + 1.6 * fw))] = cv2.GC_PR_FGD
    seed[:frame, :] = cv2.GC_BGD
    core = (round(left + 0.2 * fw), round(top + 0.2 * fh), round(right - 0.2 * fw))
    seed[core[1] : round(bottom - 0.1 * fh), core[0] : core[2]] = cv2.GC_FGD
    return seed


def _largest_face(rgb: NDArray[np.uint8]) -> tuple[float, float, float, float] | None:
    boxes = [b for b in faces.detect(rgb) if min(b.right - b.left, b.bottom - b.top) >= MIN_FACE]
    if not boxes:
        return None
    best = max(boxes, key=lambda b: (b.right - b.left) * (b.bottom - b.top))
    return best.left, best.top, best.right, best.bottom


def _grabcut(rgb: NDArray[np.uint8], seed: NDArray[np.uint8]) -> NDArray[np.bool_] | None:
    """GrabCut from the seed, cleaned to its largest solid piece; None if it cannot run."""
    labels = seed.copy()
    background, foreground = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
    cv2.setRNGSeed(12)  # GrabCut's k-means starts at random: the same photo, the same model
    bgr = np.ascontiguousarray(rgb[..., ::-1])
    try:
        cv2.grabCut(
            bgr,
            labels,
            None,
            background,
            foreground,
            _ITERATIONS,
            cv2.GC_INIT_WITH_MASK,  # type: ignore[call-overload]
        )
    except cv2.error:  # a photo of one colour gives GrabCut nothing to model
        return None
    found = ((labels == cv2.GC_FGD) | (labels == cv2.GC_PR_FGD)).astype(np.uint8)
    return _solid_pieces(found, seed == cv2.GC_FGD)


def _solid_pieces(found: NDArray[np.uint8], sure: NDArray[np.bool_]) -> NDArray[np.bool_] | None:
    """Specks and crumbs gone; the biggest piece and any holding a sure seed (a head parted
    from its body by a dark collar) kept, their holes filled."""
    size = max(3, round(0.015 * min(found.shape)) | 1)
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (size, size))
    found = np.asarray(cv2.morphologyEx(found, cv2.MORPH_OPEN, kernel), np.uint8)
    found = np.asarray(cv2.morphologyEx(found, cv2.MORPH_CLOSE, kernel), np.uint8)
    count, labels, stats, _ = cv2.connectedComponentsWithStats(found, connectivity=4)
    if count < 2:
        return None
    keep = {1 + int(np.argmax(stats[1:, cv2.CC_STAT_AREA]))} | set(np.unique(labels[sure]))
    piece = np.isin(labels, sorted(keep - {0})).astype(np.uint8)
    # holes: background pieces that do not reach the frame
    outside = np.pad(1 - piece, 1, constant_values=1)
    _, around = cv2.connectedComponents(outside, connectivity=4)
    filled: NDArray[np.bool_] = around[1:-1, 1:-1] != around[0, 0]
    return filled
