"""Mesh -> file bytes in a printable or viewable format, carrying geometry and nothing else.

STL and OBJ keep the mesh's millimetre, Z-up coordinates (what slicers expect). GLB is glTF
2.0, whose unit is the metre and whose up is +Y: its points are turned from Z-up to Y-up
(x, y, z) -> (x, z, -y), a proper rotation that keeps the winding, and scaled to metres, so a
viewer opens a 100 mm model as 0.1 m tall, standing the right way up. No names,
generator strings, timestamps or metadata are written: a mesh loaded from a user's file
would otherwise carry that file's name into the export.

Each format is written as a stream of blocks (`iter_export`), straight from the mesh's
vertex and face arrays: the memory an export takes is one block, not the file. trimesh's
own STL and GLB writers first copied the mesh into float64 triangles (72 bytes a face);
with all three files held at once, one 2048-grid model peaked at 2.5-3.4 GB (policy 3.6).
"""

from __future__ import annotations

import io
import json
import struct
from collections.abc import Iterator
from typing import Any, Literal, Protocol

import numpy as np
from numpy.typing import NDArray

from minimaker.kernel.errors import ValidationFailed

MeshFormat = Literal["stl", "glb", "obj"]
FORMATS: tuple[str, ...] = ("stl", "glb", "obj")
MEDIA_TYPES: dict[str, str] = {
    "stl": "model/stl",
    "glb": "model/gltf-binary",
    "obj": "model/obj",
}
#: Faces (or vertices, or OBJ lines) per block: under 1 MB of STL, a few MB of temporaries
#: (OBJ numbers are Python objects while their block is formatted), whatever the model.
_BLOCK = 1 << 14
_STL_RECORD = np.dtype([("normal", "<f4", (3,)), ("corners", "<f4", (3, 3)), ("attr", "<u2")])
_GLB_UINT, _GLB_FLOAT = 5125, 5126
_GLB_INDICES, _GLB_VERTICES = 34963, 34962
#: Millimetres, Z up -> metres, Y up (glTF 2.0, section 3.4): x stays, y <- z, z <- -y.
GLB_FROM_MM_Z_UP = np.array([[1.0, 0.0, 0.0], [0.0, 0.0, 1.0], [0.0, -1.0, 0.0]]) / 1000.0


class Mesh(Protocol):
    """What an exporter reads of a mesh: its vertex and face arrays (trimesh's names)."""

    @property
    def vertices(self) -> Any: ...

    @property
    def faces(self) -> Any: ...


def export_mesh(mesh: Mesh, fmt: str) -> bytes:
    """The mesh's geometry as fmt bytes (binary STL, GLB or OBJ); other fmt -> ValidationFailed."""
    return b"".join(iter_export(mesh, fmt))


def iter_export(mesh: Mesh, fmt: str) -> Iterator[bytes]:
    """The fmt file of the mesh as consecutive blocks of bytes, each a bounded size."""
    if fmt not in FORMATS:
        raise ValidationFailed("format", f"must be one of {', '.join(FORMATS)}")
    vertices, faces = np.asarray(mesh.vertices), np.asarray(mesh.faces)
    writer = {"stl": _stl_blocks, "glb": _glb_blocks, "obj": _obj_blocks}[fmt]
    return writer(vertices, faces)


def _stl_blocks(vertices: NDArray[Any], faces: NDArray[Any]) -> Iterator[bytes]:
    """Binary STL: an all-zero 80-byte header, the count, then 50 bytes a triangle."""
    yield bytes(80) + struct.pack("<I", len(faces))
    for start in range(0, len(faces), _BLOCK):
        corners = vertices[faces[start : start + _BLOCK]]  # (n, 3, 3)
        normals = np.cross(corners[:, 1] - corners[:, 0], corners[:, 2] - corners[:, 0])
        lengths = np.linalg.norm(normals, axis=1, keepdims=True)
        np.divide(normals, lengths, out=normals, where=lengths > 0)
        records = np.zeros(len(corners), dtype=_STL_RECORD)
        records["normal"] = normals
        records["corners"] = corners
        yield records.tobytes()


def _glb_blocks(vertices: NDArray[Any], faces: NDArray[Any]) -> Iterator[bytes]:
    """GLB 2.0: a JSON chunk with the accessors only, then uint32 indices and float32 points."""
    index_bytes, vertex_bytes = 12 * len(faces), 12 * len(vertices)
    tree = _gltf_tree(vertices, len(faces), index_bytes, vertex_bytes)
    text = json.dumps(tree, separators=(",", ":")).encode("ascii")
    text += b" " * (-len(text) % 4)  # chunks are 4-byte aligned; JSON pads with spaces
    binary = index_bytes + vertex_bytes  # both multiples of 4 already
    total = 12 + 8 + len(text) + 8 + binary
    yield struct.pack("<4sII", b"glTF", 2, total) + struct.pack("<I4s", len(text), b"JSON")
    yield text + struct.pack("<I4s", binary, b"BIN\x00")
    for start in range(0, len(faces), _BLOCK):
        yield faces[start : start + _BLOCK].astype("<u4").tobytes()
    for start in range(0, len(vertices), _BLOCK):
        yield (vertices[start : start + _BLOCK] @ GLB_FROM_MM_Z_UP.T).astype("<f4").tobytes()


def _gltf_tree(
    vertices: NDArray[Any], n_faces: int, index_bytes: int, vertex_bytes: int
) -> dict[str, Any]:
    """Only what a glTF viewer needs: no generator, no names, no extras, no materials."""
    # rounding to float32 keeps order, so the bounds of the float64 values, rounded, are
    # the bounds of the float32 values the file holds (without a float32 copy of them all)
    # the turn only permutes and negates axes (and scales), so the bounds turn with it
    points = vertices if len(vertices) else np.zeros((1, 3))
    corners = np.stack([points.min(axis=0), points.max(axis=0)]) @ GLB_FROM_MM_Z_UP.T
    low, high = corners.min(axis=0).astype("<f4"), corners.max(axis=0).astype("<f4")
    return {
        "asset": {"version": "2.0"},
        "scene": 0,
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 1}, "indices": 0, "mode": 4}]}],
        "accessors": [
            {"bufferView": 0, "componentType": _GLB_UINT, "count": 3 * n_faces, "type": "SCALAR"},
            {
                "bufferView": 1,
                "componentType": _GLB_FLOAT,
                "count": len(vertices),
                "type": "VEC3",
                # glTF requires POSITION bounds, as the float32 values the file holds
                "min": [float(v) for v in low],
                "max": [float(v) for v in high],
            },
        ],
        "bufferViews": [
            {"buffer": 0, "byteOffset": 0, "byteLength": index_bytes, "target": _GLB_INDICES},
            {
                "buffer": 0,
                "byteOffset": index_bytes,
                "byteLength": vertex_bytes,
                "target": _GLB_VERTICES,
            },
        ],
        "buffers": [{"byteLength": index_bytes + vertex_bytes}],
    }


def _obj_blocks(vertices: NDArray[Any], faces: NDArray[Any]) -> Iterator[bytes]:
    """Plain OBJ (v and f lines only), one C-level %-format per block of lines.

    trimesh's OBJ exporter formats line by line in Python and took ~20 s for a 1024^2 relief;
    one %-format over a block of rows is ~6x faster and the memory stays one block.
    """
    for start in range(0, len(vertices), _BLOCK):
        block = vertices[start : start + _BLOCK]
        yield (("v %.4f %.4f %.4f\n" * len(block)) % tuple(block.ravel().tolist())).encode()
    for start in range(0, len(faces), _BLOCK):
        block = faces[start : start + _BLOCK] + 1  # OBJ indices start at 1
        yield (("f %d %d %d\n" * len(block)) % tuple(block.ravel().tolist())).encode()


class BlockReader(io.RawIOBase):
    """A read-only file over an iterator of byte blocks: exports stream into the blob store."""

    def __init__(self, blocks: Iterator[bytes]) -> None:
        self._blocks = blocks
        self._pending = memoryview(b"")
        self.size = 0  # bytes handed out so far

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._pending:
            block = next(self._blocks, None)
            if block is None:
                return 0
            self._pending = memoryview(block)
        n = min(len(buffer), len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self.size += n
        return n
