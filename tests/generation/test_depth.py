"""The depth backend plug-in: an operator's ONNX model, loaded from the setting by the real
code (onnxruntime) and shaping reliefs; tested on tiny models this test builds with `onnx`."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import onnx
import pytest
from fastapi.testclient import TestClient
from onnx import TensorProto, helper
from PIL import Image

from minimaker.entrypoints.worker import Worker
from minimaker.generation import depth as depth_backend
from minimaker.generation.relief import ReliefParams, colour_grid, height_field
from minimaker.kernel.clock import ManualClock
from minimaker.kernel.container import Container
from minimaker.kernel.errors import ConfigurationError
from tests.conftest import signup_and_login
from tests.uploads.test_api import _upload


def red_channel_model(path: Path, size: tuple[int, int] | None = None) -> Path:
    """A 'depth' model whose nearness is the input's (normalised) red channel: (1,3,H,W) ->
    (1,1,H,W), H and W dynamic unless `size` fixes them."""
    h, w = size if size is not None else ("H", "W")
    image = helper.make_tensor_value_info("image", TensorProto.FLOAT, [1, 3, h, w])
    out = helper.make_tensor_value_info("depth", TensorProto.FLOAT, [1, 1, h, w])
    starts = helper.make_tensor("starts", TensorProto.INT64, [1], [0])
    ends = helper.make_tensor("ends", TensorProto.INT64, [1], [1])
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [1])
    node = helper.make_node("Slice", ["image", "starts", "ends", "axes"], ["depth"])
    graph = helper.make_graph([node], "red", [image], [out], [starts, ends, axes])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    onnx.checker.check_model(model)
    onnx.save(model, str(path))
    return path


def split_photo() -> Image.Image:
    """Left half red (near to the model), right half blue (far); both equally bright."""
    pixels = np.zeros((60, 80, 3), dtype=np.uint8)
    pixels[:, :40] = (200, 60, 60)
    pixels[:, 40:] = (60, 60, 200)
    return Image.fromarray(pixels)


def test_the_depth_model_gives_nearness_in_zero_to_one_on_the_grid(tmp_path: Path) -> None:
    model = depth_backend.depth_model(red_channel_model(tmp_path / "red.onnx"))
    assert model is not None
    rgb = colour_grid(split_photo(), 512)
    nearness = model.depth(rgb)
    assert nearness.shape == rgb.shape[:2]
    assert nearness.min() >= 0.0 and nearness.max() <= 1.0
    assert nearness[:, :30].mean() > 0.9 and nearness[:, 50:].mean() < 0.1


def test_a_model_with_a_fixed_input_size_is_fed_that_size(tmp_path: Path) -> None:
    model = depth_backend.depth_model(red_channel_model(tmp_path / "fixed.onnx", (64, 64)))
    assert model is not None
    nearness = model.depth(colour_grid(split_photo(), 512))
    assert nearness.shape == (60, 80)
    assert nearness[:, :30].mean() > nearness[:, 50:].mean() + 0.5


def split_disc() -> Image.Image:
    """A disc on a grey ground, its left half red (near to the model), its right half blue."""
    yy, xx = np.mgrid[0:120, 0:160]
    pixels = np.full((120, 160, 3), 128, dtype=np.uint8)
    disc = (xx - 80) ** 2 + (yy - 60) ** 2 < 45**2
    pixels[disc & (xx < 80)] = (220, 40, 40)
    pixels[disc & (xx >= 80)] = (40, 40, 220)
    return Image.fromarray(pixels)


def test_a_relief_takes_its_shape_from_the_depth_model(tmp_path: Path) -> None:
    model = depth_backend.depth_model(red_channel_model(tmp_path / "red.onnx"))
    params = ReliefParams(base_mm=1.0, max_relief_mm=4.0)
    with_model, _ = height_field(split_disc(), params, model)
    without, _ = height_field(split_disc(), params)
    left, right = (slice(50, 70), slice(50, 70)), (slice(50, 70), slice(90, 110))
    assert with_model[left].mean() > with_model[right].mean() + 1.0  # red is nearer
    assert abs(without[left].mean() - without[right].mean()) < 0.5  # the silhouette alone


def test_no_setting_means_no_model_and_nothing_loaded() -> None:
    assert depth_backend.depth_model(None) is None


@pytest.mark.parametrize("content", [None, b"", b"not an onnx file at all"])
def test_a_missing_or_broken_model_file_is_a_configuration_error(
    tmp_path: Path, content: bytes | None
) -> None:
    path = tmp_path / "model.onnx"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(ConfigurationError):
        depth_backend.depth_model(path)


def test_a_model_that_does_not_take_an_image_is_refused(tmp_path: Path) -> None:
    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3])
    graph = helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])
    path = tmp_path / "flat.onnx"
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    with pytest.raises(ConfigurationError, match="input"):
        depth_backend.depth_model(path)


def test_the_worker_uses_the_depth_model_the_setting_names(
    client: TestClient, container: Container, worker: Worker, clock: ManualClock, tmp_path: Path
) -> None:
    container.settings.generation_depth_model = red_channel_model(tmp_path / "red.onnx")
    headers = signup_and_login(client)
    out = io.BytesIO()
    split_photo().save(out, "PNG")
    upload_id = _upload(client, headers, out.getvalue()).json()["id"]
    model_id = client.post(f"/api/v1/uploads/{upload_id}/models", headers=headers).json()["id"]
    worker.run_until_idle()
    assert client.get(f"/api/v1/models/{model_id}", headers=headers).json()["status"] == "done"
    container.settings.generation_depth_model = tmp_path / "gone.onnx"
    model_id = client.post(f"/api/v1/uploads/{upload_id}/models", headers=headers).json()["id"]
    for _ in range(container.settings.job_max_attempts):  # retried, then failed for good
        worker.run_until_idle()
        clock.advance(minutes=10)
    failed = client.get(f"/api/v1/models/{model_id}", headers=headers).json()
    assert failed["status"] == "failed"
    assert "gone" not in (failed["error"] or "")  # no path in what the subject sees
