"""Mesh -> file bytes in a printable or viewable format, carrying geometry and nothing else.

Every format keeps the mesh's millimetre, Z-up coordinates unchanged (GLB included, although
glTF nominally means metres, Y-up) so one model measures the same in each file. No names,
generator strings, timestamps or metadata are written: a mesh loaded from a user's file
would otherwise carry that file's name into the export.
"""

from __future__ import annotations

from typing import Any, Literal

import trimesh

from minimaker.domain.errors import GenerationFailed, ValidationFailed

MeshFormat = Literal["stl", "glb", "obj"]
FORMATS: tuple[str, ...] = ("stl", "glb", "obj")
MEDIA_TYPES: dict[str, str] = {
    "stl": "model/stl",
    "glb": "model/gltf-binary",
    "obj": "model/obj",
}


def export_mesh(mesh: trimesh.Trimesh, fmt: str) -> bytes:
    """The mesh's geometry as fmt bytes (binary STL, GLB or OBJ); other fmt -> ValidationFailed."""
    if fmt not in FORMATS:
        raise ValidationFailed("format", f"must be one of {', '.join(FORMATS)}")
    # a bare copy of the arrays drops metadata, names and visuals the mesh may carry
    bare = trimesh.Trimesh(vertices=mesh.vertices, faces=mesh.faces, process=False)
    exported = bare.export(file_type=fmt, **_exporter_options(fmt))
    if isinstance(exported, str):
        exported = exported.encode("ascii")
    if not isinstance(exported, bytes):  # only a multi-file format (e.g. .gltf) gives a dict
        raise GenerationFailed(f"the {fmt} exporter did not produce a single file")
    return exported


def _exporter_options(fmt: str) -> dict[str, Any]:
    """Keyword arguments for trimesh's exporter of fmt that keep the file to bare geometry."""
    if fmt == "glb":
        return {"include_normals": False, "tree_postprocessor": _strip_gltf_tree}
    if fmt == "obj":
        return {
            "include_normals": False,
            "include_color": False,
            "include_texture": False,
            "header": None,  # else trimesh writes its project URL as a comment
        }
    return {}  # binary STL: an all-zero 80-byte header, then the triangles


def _strip_gltf_tree(tree: dict[str, Any]) -> None:
    """Keep only what a glTF viewer needs: no generator, no names, no extras."""
    tree["asset"] = {"version": "2.0"}
    for section in ("scenes", "nodes", "meshes"):
        for entry in tree.get(section, []):
            entry.pop("name", None)
            entry.pop("extras", None)
    # empty optional sections are allowed but say nothing; drop them
    for section in ("images", "textures", "materials"):
        if not tree.get(section):
            tree.pop(section, None)
