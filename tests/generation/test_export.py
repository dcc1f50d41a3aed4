"""export_mesh: every format loads back as the same closed solid and says nothing else."""

from __future__ import annotations

import io
import json
import struct
import typing

import numpy as np
import pytest
import trimesh
from PIL import Image

from minimaker.generation.export import FORMATS, MEDIA_TYPES, MeshFormat, export_mesh
from minimaker.generation.relief import ReliefParams, relief_from_image
from minimaker.kernel.errors import ValidationFailed


@pytest.fixture(scope="module")
def relief() -> trimesh.Trimesh:
    rng = np.random.default_rng(7)
    ramp = np.linspace(0, 200, 24)[np.newaxis, :] + rng.integers(0, 55, size=(16, 24))
    return relief_from_image(Image.fromarray(ramp.astype(np.uint8)), ReliefParams(width_mm=40.0))


def load(data: bytes, fmt: str) -> trimesh.Trimesh:
    return trimesh.load(io.BytesIO(data), file_type=fmt, force="mesh")


def glb_json(data: bytes) -> dict[str, typing.Any]:
    """The JSON chunk of a GLB file."""
    magic, _, _ = struct.unpack_from("<4sII", data, 0)
    length, kind = struct.unpack_from("<I4s", data, 12)
    assert (magic, kind) == (b"glTF", b"JSON")
    return json.loads(data[20 : 20 + length])


def test_formats_and_media_types_cover_the_same_formats() -> None:
    assert typing.get_args(MeshFormat) == FORMATS
    assert set(MEDIA_TYPES) == set(FORMATS)
    assert MEDIA_TYPES["stl"] == "model/stl"
    assert MEDIA_TYPES["glb"] == "model/gltf-binary"
    assert MEDIA_TYPES["obj"] == "model/obj"


def in_mm_z_up(mesh: trimesh.Trimesh, fmt: str) -> trimesh.Trimesh:
    """A loaded file's mesh in millimetres with Z up: GLB's metres and Y up turned back."""
    if fmt != "glb":
        return mesh
    x, y, z = np.asarray(mesh.vertices).T * 1000.0
    return trimesh.Trimesh(np.stack([x, -z, y], axis=1), mesh.faces, process=False)


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_loads_back_as_the_same_closed_solid(
    relief: trimesh.Trimesh, fmt: str
) -> None:
    loaded = in_mm_z_up(load(export_mesh(relief, fmt), fmt), fmt)
    assert loaded.is_watertight
    assert loaded.is_winding_consistent
    assert loaded.volume == pytest.approx(relief.volume, rel=0.01)
    np.testing.assert_allclose(loaded.bounds, relief.bounds, atol=1e-3)


def test_glb_is_in_metres_with_y_up_and_stl_and_obj_in_millimetres_with_z_up(
    relief: trimesh.Trimesh,
) -> None:
    # the relief is 40 mm wide (x), about 26 mm deep (y) and 5 mm high (z)
    (_, _, _), (width, depth, height) = relief.bounds
    glb = load(export_mesh(relief, "glb"), "glb")
    np.testing.assert_allclose(glb.extents, [width / 1000, height / 1000, depth / 1000], rtol=1e-5)
    assert glb.bounds[0][1] == pytest.approx(0.0, abs=1e-7)  # the base stands on y = 0
    assert glb.volume == pytest.approx(relief.volume * 1e-9, rel=0.01)  # outward, in m^3
    accessor = glb_json(export_mesh(relief, "glb"))["accessors"][1]
    np.testing.assert_allclose(accessor["max"], [width / 1000, height / 1000, 0.0], atol=1e-6)
    np.testing.assert_allclose(accessor["min"], [0.0, 0.0, -depth / 1000], atol=1e-6)
    for fmt in ("stl", "obj"):
        np.testing.assert_allclose(
            load(export_mesh(relief, fmt), fmt).bounds, relief.bounds, atol=1e-3
        )


def test_stl_is_binary_with_an_empty_header(relief: trimesh.Trimesh) -> None:
    data = export_mesh(relief, "stl")
    assert data[:80] == bytes(80)
    (count,) = struct.unpack_from("<I", data, 80)
    assert count == len(relief.faces)
    assert len(data) == 84 + 50 * count


@pytest.mark.parametrize("fmt", ["ply", "STL", "gltf", "", "stl "])
def test_unknown_format_is_refused(relief: trimesh.Trimesh, fmt: str) -> None:
    with pytest.raises(ValidationFailed) as caught:
        export_mesh(relief, fmt)
    assert caught.value.field == "format"


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_carries_no_trace_of_the_source(relief: trimesh.Trimesh, fmt: str) -> None:
    tagged = relief.copy()
    tagged.metadata.update(
        {"file_name": "alice-holiday.jpg", "name": "alice", "source": "PIL JpegImagePlugin"}
    )
    data = export_mesh(tagged, fmt).lower()
    for trace in (b"alice", b"holiday", b"jpg", b"pil", b"trimesh", b"github", b"http"):
        assert trace not in data


@pytest.mark.parametrize("fmt", FORMATS)
def test_export_is_byte_for_byte_repeatable(relief: trimesh.Trimesh, fmt: str) -> None:
    # nothing time- or run-dependent (timestamps, ids) is written
    assert export_mesh(relief, fmt) == export_mesh(relief.copy(), fmt)


def test_obj_holds_only_vertices_and_faces(relief: trimesh.Trimesh) -> None:
    lines = export_mesh(relief, "obj").decode("ascii").split("\n")
    kinds = {line.split(" ", 1)[0] for line in lines if line.strip()}
    assert kinds == {"v", "f"}
    assert sum(line.startswith("v ") for line in lines) == len(relief.vertices)


def test_glb_header_holds_geometry_only(relief: trimesh.Trimesh) -> None:
    tree = glb_json(export_mesh(relief, "glb"))
    assert tree["asset"] == {"version": "2.0"}
    text = json.dumps(tree)
    assert '"name"' not in text
    assert '"extras"' not in text
    (primitive,) = tree["meshes"][0]["primitives"]
    assert set(primitive["attributes"]) == {"POSITION"}


def test_export_leaves_the_mesh_untouched(relief: trimesh.Trimesh) -> None:
    before = relief.copy()
    for fmt in FORMATS:
        export_mesh(relief, fmt)
    np.testing.assert_array_equal(relief.vertices, before.vertices)
    np.testing.assert_array_equal(relief.faces, before.faces)
