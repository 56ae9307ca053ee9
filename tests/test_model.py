"""Cold start: family detection from config, shared modules, device/dtype rules, and the fitness check."""

from __future__ import annotations

import pytest
import torch

from models.tiny import save_tiny_flux
from worker import DesignWorker
from worker.generation.model import FAMILY_DEFAULTS, load_model
from worker.runtime.config import Settings
from worker.runtime.devices import resolve_device, resolve_dtype


@pytest.fixture(scope="module")
def dev_model(tmp_path_factory):
    return save_tiny_flux(tmp_path_factory.mktemp("models") / "tiny-dev")


@pytest.fixture(scope="module")
def kontext_model(tmp_path_factory):
    return save_tiny_flux(tmp_path_factory.mktemp("models") / "tiny-kontext", kontext=True)


def test_schnell_family_from_config(worker):
    assert worker.model.family == "schnell"
    assert worker.model.defaults == FAMILY_DEFAULTS["schnell"]
    assert (worker.model.defaults.steps, worker.model.defaults.guidance) == (4, 0.0)
    assert worker.model.defaults.max_sequence_length == 256


def test_family_comes_from_config_not_name(dev_model, tmp_path):
    # A dev model in a folder whose name says "schnell" is still dev: the guidance embedding decides.
    misleading = tmp_path / "FLUX.1-schnell"
    misleading.symlink_to(dev_model)
    model = load_model(Settings(model_id=str(misleading)))
    assert model.family == "dev"
    assert (model.defaults.steps, model.defaults.guidance, model.defaults.max_sequence_length) == (28, 3.5, 512)
    assert model.kontext is None


def test_kontext_model_gets_a_kontext_pipeline_sharing_weights(kontext_model):
    model = load_model(Settings(model_id=str(kontext_model)))
    assert model.family == "kontext"
    assert model.kontext is not None
    for pipe in (model.image_to_image, model.kontext):
        assert pipe.transformer is model.text_to_image.transformer
        assert pipe.vae is model.text_to_image.vae
        assert pipe.text_encoder_2 is model.text_to_image.text_encoder_2


def test_kontext_job_edits_the_photo(kontext_model, tmp_path):
    from PIL import Image

    from tests.conftest import png_data_uri, run_job, small_job

    worker = DesignWorker.cold_start(Settings(model_id=str(kontext_model), output_dir=tmp_path))
    photo = png_data_uri(Image.new("RGB", (256, 256), (200, 120, 40)))
    result, _ = run_job(worker, small_job(image=photo, steps=2))
    assert "error" not in result, result
    assert result["model"]["family"] == "kontext"


def test_device_and_dtype_rules():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_dtype("auto", torch.device("cpu")) == torch.float32
    assert resolve_dtype("auto", torch.device("cuda")) == torch.bfloat16
    assert resolve_dtype("float16", torch.device("cpu")) == torch.float16
    with pytest.raises(ValueError, match="DTYPE"):
        resolve_dtype("int8", torch.device("cpu"))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without a GPU")
def test_required_gpu_absent_fails_the_fitness_check(tiny_model, tmp_path):
    worker = DesignWorker.cold_start(Settings(model_id=str(tiny_model), device="cuda", output_dir=tmp_path))
    with pytest.raises(RuntimeError, match="no CUDA GPU"):
        worker.fitness_check()


def test_unloadable_model_fails_fitness_and_jobs_say_so(tmp_path):
    worker = DesignWorker.cold_start(
        Settings(model_id=str(tmp_path / "missing"), hf_hub_offline=True, output_dir=tmp_path)
    )
    with pytest.raises(RuntimeError, match="cold start failed"):
        worker.fitness_check()
    result = worker.run({"id": "j", "input": {"design_id": "a", "style": "metal", "prompt": "x"}}, lambda _: None)
    assert result["error_code"] == "model_unavailable"


def floating_tensors(model) -> dict[str, torch.dtype]:
    """Every floating-point parameter and buffer of every component of every pipeline, by name."""
    found = {}
    for pipe_name, pipe in model.pipelines.items():
        for component_name, component in pipe.components.items():
            if isinstance(component, torch.nn.Module):
                tensors = [*component.named_parameters(), *component.named_buffers()]
                for name, tensor in tensors:
                    if tensor.is_floating_point():
                        found[f"{pipe_name}.{component_name}.{name}"] = tensor.dtype
    return found


@pytest.mark.parametrize("kind", ["schnell", "kontext"])
def test_every_pipeline_runs_in_the_configured_dtype(tiny_model, kontext_model, tmp_path, kind):
    """from_pipe's own default (float32) once cast the shared modules of every pipeline behind the loader's back."""
    folder = tiny_model if kind == "schnell" else kontext_model
    worker = DesignWorker.cold_start(Settings(model_id=str(folder), dtype="bfloat16", output_dir=tmp_path))
    assert worker.startup_error is None, worker.startup_error
    dtypes = floating_tensors(worker.model)
    assert len(worker.model.pipelines) == (3 if kind == "kontext" else 2)
    assert dtypes and {name: d for name, d in dtypes.items() if d != torch.bfloat16} == {}

    from PIL import Image

    from tests.conftest import png_data_uri, run_job, small_job

    photo = png_data_uri(Image.new("RGB", (256, 256), (200, 120, 40)))
    for job in (small_job(steps=2), small_job(image=photo, steps=2)):
        result, _ = run_job(worker, job)
        assert "error" not in result, result
    assert {d for d in floating_tensors(worker.model).values()} == {torch.bfloat16}


@pytest.mark.parametrize("model_id", ["models/no-such-model", "./no-such-model", "/no/such/model"])
def test_a_local_path_that_is_no_model_folder_is_said_at_once(tmp_path, model_id):
    """Once tried as a Hub repo id: 33 s of retries, then a message about model_index.json on the Hub."""
    import time

    started = time.monotonic()
    unfit = DesignWorker.cold_start(Settings(model_id=model_id, output_dir=tmp_path))
    assert time.monotonic() - started < 5  # no network retries; a generous bound, the check itself is instant
    with pytest.raises(RuntimeError, match=f"MODEL_ID={model_id} names a local folder"):
        unfit.fitness_check()
