"""A photo's bytes -> its samples -> a mesh, within the process's decode budget and the cap."""

from __future__ import annotations

import io

import numpy as np
import trimesh
from numpy.typing import NDArray
from PIL import Image

from minimaker.generation import limits
from minimaker.generation.depth import OnnxDepthModel, depth_model
from minimaker.generation.relief import (
    ReliefParams,
    colour_grid,
    grid_heights,
    luminance_grid,
    relief_from_grids,
)
from minimaker.generation.rules import MeshSize
from minimaker.settings import Settings
from minimaker.uploads import intake as images

Grids = tuple[NDArray[np.float64], NDArray[np.uint8] | None]


def photo_grids(settings: Settings, photo: bytes, params: ReliefParams) -> Grids:
    """The photo's luminance and (but for lithophanes) RGB grids, decoded within the
    process's decode budget; the output cap re-checked from the photo itself first."""
    decode = images.DecodeLimits.of(settings)
    resolution = params.max_resolution
    with Image.open(io.BytesIO(photo)) as img:
        # Re-checked here: the settings may have changed since the request, and no mesh is
        # built for a model over the cap (a 4xx: final, no retry).
        limits.ensure_model_fits(settings, img.width, img.height, resolution, params.mode)
        with images.decoding(img, decode):
            luminance = luminance_grid(img, resolution)
            rgb = None if params.mode == "lithophane" else colour_grid(img, resolution)
            img.close()  # the decoded photo goes before its budget share is given back
    return luminance, rgb


def build_mesh(settings: Settings, photo: bytes, params: ReliefParams) -> trimesh.Trimesh:
    """The model of the photo in params.mode; ModelTooLarge if its files would pass the cap."""
    luminance, rgb = photo_grids(settings, photo, params)
    mesh = relief_from_grids(luminance, rgb, params, _depth(settings, params))
    # a figurine's size is known only once it is meshed: the cap holds for it all the same
    limits.ensure_files_fit(settings, MeshSize(len(mesh.vertices), len(mesh.faces)))
    return mesh


def photo_heights(
    settings: Settings, photo: bytes, params: ReliefParams
) -> tuple[NDArray[np.float64], NDArray[np.bool_] | None]:
    """The heights (mm) the photo would get in params.mode, and a figurine's silhouette."""
    luminance, rgb = photo_grids(settings, photo, params)
    heights, mask = grid_heights(luminance, rgb, params, _depth(settings, params))
    return heights, (mask if params.mode == "figurine" else None)


def _depth(settings: Settings, params: ReliefParams) -> OnnxDepthModel | None:
    return depth_model(settings.generation_depth_model) if params.mode == "relief" else None
