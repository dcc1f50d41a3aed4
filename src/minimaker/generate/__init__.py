"""generate layer: photo -> closed relief mesh -> STL / GLB / OBJ bytes."""

from minimaker.generate.export import FORMATS, MEDIA_TYPES, MeshFormat, export_mesh
from minimaker.generate.relief import ReliefParams, relief_from_image

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "MeshFormat",
    "ReliefParams",
    "export_mesh",
    "relief_from_image",
]
