"""The default model loads when the embedded backend starts; readiness follows the load."""

from __future__ import annotations

from ollama_gateway.backends.llama_cpp.backend import EmbeddedBackend


async def test_default_model_is_loaded_at_start_and_ready_follows(
    make_settings, tiny_path, tmp_path
):
    backend = EmbeddedBackend(make_settings(model=str(tiny_path), models_dir=tmp_path, parallel=1))
    await backend.start()
    try:
        ready, reason = await backend.check_ready()
        assert (ready, reason) == (False, 'model "tiny:latest" is loading')
        await backend._warmup
        ready, reason = await backend.check_ready()
        assert ready, reason
        assert [m.name for m in await backend.running()] == ["tiny:latest"]  # no request needed
    finally:
        await backend.close()


async def test_missing_default_model_is_not_ready(make_settings, tmp_path):
    backend = EmbeddedBackend(make_settings(model="nothere:latest", models_dir=tmp_path))
    await backend.start()
    try:
        await backend._warmup
        ready, reason = await backend.check_ready()
        assert not ready
        assert 'model "nothere:latest" not found' in reason
    finally:
        await backend.close()
