"""Generation rules (pure): the grid a photo gives, and the size of the mesh it makes.

The grid follows from the photo's size and max_resolution alone, so the vertices, faces and
bytes of every exported file are known before any pixel is decoded or any mesh is built:
the output cap is checked from these numbers at request time and again in the job
(policy 3.6: an 8.5 KB PNG at max_resolution 2048 made 888 MB of model files).
"""

from __future__ import annotations

from dataclasses import dataclass

#: What a photo can become: a relief, a lithophane (for back light), a figurine (standing).
MODES: tuple[str, ...] = ("relief", "lithophane", "figurine")

#: Views of a model's preview: lit from the upper left, or held against a light.
PREVIEW_VIEWS: tuple[str, ...] = ("shaded", "backlit")

#: Attenuation of back light per mm of print, for a white PLA lithophane (nominal; prints of
#: other materials differ in contrast, not in the order of their greys).
ATTENUATION_PER_MM = 0.7

#: Cells along the longer side of a figurine's silhouette (its voxel grid follows from it).
FIGURE_SIDE = 128

#: Upper bound of the GLB JSON chunk (accessors, views, one mesh; no names or extras).
_GLB_JSON_MAX = 2048
#: Longest OBJ vertex line: "v " + three "%.4f" of at most 9 characters + 2 spaces + "\n";
#: no coordinate reaches 10000 mm (width and length are capped at 1000 mm, heights at 150).
_OBJ_VERTEX_LINE_MAX = 32


def preview_views(mode: str) -> tuple[str, ...]:
    """The previews a model of `mode` has: a lithophane is also seen against a light."""
    return PREVIEW_VIEWS if mode == "lithophane" else PREVIEW_VIEWS[:1]


def scaled_size(width: int, height: int, max_resolution: int) -> tuple[int, int]:
    """The photo's size with its longer side at most max_resolution (never upsampled)."""
    longer = max(width, height)
    if longer <= max_resolution:
        return width, height
    scale = max_resolution / longer
    return max(1, round(width * scale)), max(1, round(height * scale))


def grid_size(width: int, height: int, max_resolution: int) -> tuple[int, int]:
    """(columns, rows) of height samples for a width x height photo: the longer side at most
    max_resolution (box-downsampled, never upsampled), each side at least 2."""
    width, height = scaled_size(width, height, max_resolution)
    # a grid needs two samples per side; a 1-pixel side is stretched to 2
    return max(2, width), max(2, height)


@dataclass(frozen=True)
class MeshSize:
    """How large the closed relief of a cols x rows grid is, before it is built."""

    vertices: int
    faces: int

    @classmethod
    def of_grid(cls, cols: int, rows: int) -> MeshSize:
        ring = 2 * (rows - 1) + 2 * (cols - 1)  # border vertices, each corner once
        # top grid + the border copied at z = 0 + the bottom's centre; two triangles per
        # cell, two per wall segment, one bottom fan triangle per border vertex
        return cls(rows * cols + ring + 1, 2 * (rows - 1) * (cols - 1) + 3 * ring)

    def file_bytes(self) -> dict[str, int]:
        """Bytes of each exported format: exact for STL, an upper bound for GLB and OBJ."""
        digits = len(str(self.vertices))
        return {
            "stl": 84 + 50 * self.faces,  # header, count, 50 bytes a triangle
            "glb": 28 + _GLB_JSON_MAX + 12 * self.vertices + 12 * self.faces,
            "obj": _OBJ_VERTEX_LINE_MAX * self.vertices + (5 + 3 * digits) * self.faces,
        }

    def total_bytes(self) -> int:
        return sum(self.file_bytes().values())

    @classmethod
    def of_figurine(cls, cols: int, rows: int) -> MeshSize:
        """A generous bound for a figurine of a cols x rows grid (measured: ~3 faces per
        cell of the silhouette's square at 128 cells); the built mesh is checked again."""
        side = min(FIGURE_SIDE, max(cols, rows))
        faces = 24 * side * side + 20_000
        return cls(faces // 2 + 2, faces)


def model_bytes(width: int, height: int, max_resolution: int, mode: str = "relief") -> int:
    """Upper bound of the bytes all exported files of a width x height photo's model take."""
    grid = grid_size(width, height, max_resolution)
    if mode == "figurine":
        return MeshSize.of_figurine(*grid).total_bytes()
    return MeshSize.of_grid(*grid).total_bytes()
