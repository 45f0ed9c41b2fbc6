"""``/api/blobs`` and ``/api/create`` through the official ``ollama`` client, on a live embedded
gateway: upload a GGUF blob, create with a template and parameters, quantize F16 -> Q4_K_M,
list, show, generate, delete; and every hostile input a 4xx in Ollama's shape."""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import ollama
import pytest

from tests.support.live import serve, wait_ready
from tests.support.secrets import KEY_A, KEY_B

pytestmark = pytest.mark.slow  # the embedded engine (llama.cpp) serves the models created here

MAX_BLOB = 8 << 20
TEMPLATE = (
    "{{ if .System }}<|system|>{{ .System }}<|end|>{{ end }}"
    "<|user|>{{ .Prompt }}<|end|><|assistant|>"
)


@pytest.fixture(scope="module")
def store(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("store")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, store) -> Iterator[str]:
    """An embedded gateway: KEY_A is an admin key, KEY_B a user key."""
    from ollama_gateway.app import create_app
    from ollama_gateway.settings import Settings
    from tests.support.gguf_models import write_tiny_llama

    tmp = tmp_path_factory.mktemp("gw")
    default = write_tiny_llama(tmp / "tiny.gguf", n_ctx=512)
    keys = tmp / "keys"
    keys.write_text(f"{KEY_A} role=admin\n{KEY_B} role=user\n")
    settings = Settings(
        _env_file=None,
        backend="embedded",
        model=str(default),
        models_dir=store,
        keys_file=keys,
        data_dir=tmp / "data",
        num_ctx=512,
        parallel=1,
        num_threads=1,
        pull_on_start=False,
        max_blob_bytes=MAX_BLOB,
    )
    with serve(create_app(settings)) as url:
        wait_ready(url, headers={"X-API-KEY": KEY_A})
        yield url


@pytest.fixture
def client(gateway) -> ollama.Client:
    return ollama.Client(host=gateway, headers={"X-API-KEY": KEY_A}, timeout=120)


@pytest.fixture(scope="module")
def tiny_gguf(tmp_path_factory) -> Path:
    from tests.support.gguf_models import write_tiny_llama

    return write_tiny_llama(tmp_path_factory.mktemp("m") / "model.gguf", n_ctx=512, seed=5)


@pytest.fixture(scope="module")
def f16_gguf(tmp_path_factory) -> Path:
    """Wide enough (256) for llama.cpp's K-quants, in F16: about 3 MB."""
    from tests.support.gguf_models import write_tiny_llama

    path = tmp_path_factory.mktemp("m") / "f16.gguf"
    return write_tiny_llama(path, n_embd=256, n_ff=512, qtype="F16", n_ctx=512, seed=7)


def _digest(path: Path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def _manifest_layers(store: Path, name: str, tag: str) -> dict[str, str]:
    import json

    path = store / "manifests" / "registry.ollama.ai" / "library" / name / tag
    manifest = json.loads(path.read_text())
    return {layer["mediaType"].rsplit(".", 1)[-1]: layer["digest"] for layer in manifest["layers"]}


def _head(gateway: str, digest: str, key: str = KEY_A) -> int:
    return httpx.head(f"{gateway}/api/blobs/{digest}", headers={"X-API-KEY": key}).status_code


def test_upload_create_show_generate_copy_delete(client, gateway, store, tiny_gguf):
    digest = _digest(tiny_gguf)
    assert _head(gateway, digest) == 404
    assert client.create_blob(tiny_gguf) == digest
    assert _head(gateway, digest) == 200
    again = httpx.post(f"{gateway}/api/blobs/{digest}", content=b"", headers={"X-API-KEY": KEY_A})
    assert again.status_code == 200  # already stored: the body is not read

    statuses = [
        event.status
        for event in client.create(
            model="mine:1b",
            files={"model.gguf": digest},
            template=TEMPLATE,
            system="Be brief.",
            parameters={"temperature": 0, "num_predict": 3, "stop": ["<|end|>"]},
            messages=[{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}],
            license="MIT",
            stream=True,
        )
    ]
    assert statuses[0] == "parsing GGUF"
    assert f"using existing layer {digest}" in statuses
    created = [s for s in statuses if s.startswith("creating new layer sha256:")]
    assert len(created) == 5  # template, system, params, messages, license
    assert statuses[-2:] == ["writing manifest", "success"]

    assert "mine:1b" in [m.model for m in client.list().models]
    shown = client.show("mine:1b")
    assert shown.template == TEMPLATE
    assert 'SYSTEM """Be brief."""' in shown.modelfile and shown.license == "MIT"
    params = dict(line.split(None, 1) for line in shown.parameters.splitlines())
    assert params == {"temperature": "0", "num_predict": "3", "stop": '"<|end|>"'}
    assert f'TEMPLATE """{TEMPLATE}"""' in shown.modelfile
    assert "PARAMETER num_predict" in shown.modelfile
    assert 'MESSAGE user """hi"""\nMESSAGE assistant """yo"""' in shown.modelfile

    answer = client.generate("mine:1b", "hello world")
    assert answer.done and 1 <= answer.eval_count <= 3  # num_predict 3 from the model's params
    plain = client.generate("mine:1b", "hello world", raw=True, options={"num_predict": 1})
    assert plain.prompt_eval_count < answer.prompt_eval_count  # the template added the rest

    # A model from that one: its layers are reused, the system prompt replaced.
    done = client.create(model="other", from_="mine:1b", system="Hi.")
    assert done.status == "success"  # stream=False: the last status only
    other = client.show("other")
    assert 'SYSTEM """Hi."""' in other.modelfile and other.template == TEMPLATE
    assert _manifest_layers(store, "other", "latest")["model"] == digest

    client.delete("mine:1b")
    assert _head(gateway, digest) == 200  # "other" still uses the weights
    client.delete("other")
    assert _head(gateway, digest) == 404  # no model uses them any more
    assert "mine:1b" not in [m.model for m in client.list().models]
    assert not list((store / "blobs").glob(".*tmp"))


def test_quantize_f16_to_q4_k_m(client, store, f16_gguf):
    import gguf

    digest = client.create_blob(f16_gguf)
    statuses = [
        s.status
        for s in client.create(
            model="quant", files={"f16.gguf": digest}, quantize="q4_K_M", stream=True
        )
    ]
    assert "quantizing F16 model to Q4_K_M" in statuses
    assert statuses.index("verifying conversion") < statuses.index("writing manifest")
    new = [s for s in statuses if s.startswith("creating new layer")]
    assert len(new) == 1 and statuses[-1] == "success"
    model_digest = _manifest_layers(store, "quant", "latest")["model"]
    assert model_digest != digest and new[0].endswith(model_digest)

    blob = store / "blobs" / model_digest.replace(":", "-")
    reader = gguf.GGUFReader(blob)
    kinds = Counter(t.tensor_type.name for t in reader.tensors if len(t.shape) > 1)
    assert kinds["Q4_K"] >= 10 and set(kinds) <= {"Q4_K", "Q6_K"}, kinds
    assert int(reader.fields["general.file_type"].parts[-1][0]) == 15  # LLAMA_FTYPE_Q4_K_M
    assert blob.stat().st_size < f16_gguf.stat().st_size / 2

    shown = client.show("quant")
    assert shown.details.quantization_level == "Q4_K_M"
    answer = client.generate("quant", "hello", options={"num_predict": 2, "temperature": 0})
    assert answer.done and answer.eval_count >= 1
    client.delete("quant")


def _error(call) -> tuple[int, str]:
    with pytest.raises(ollama.ResponseError) as caught:
        result = call()
        if not isinstance(result, ollama.ProgressResponse):
            list(result)
    return caught.value.status_code, caught.value.error


def test_hostile_blob_uploads(gateway, store):
    headers = {"X-API-KEY": KEY_A}
    zeros = "sha256:" + "0" * 64
    wrong = httpx.post(f"{gateway}/api/blobs/{zeros}", content=b"abc", headers=headers)
    assert wrong.status_code == 400
    assert wrong.json()["error"].startswith(f'digest mismatch, expected "{zeros}", got "sha256:')
    assert _head(gateway, zeros) == 404
    for bad in ("sha256:xyz", "md5:" + "0" * 32, "sha256:" + "A" * 64):
        answer = httpx.post(f"{gateway}/api/blobs/{bad}", content=b"abc", headers=headers)
        assert answer.status_code == 400 and "invalid digest" in answer.json()["error"]
        assert _head(gateway, bad) == 400

    big = b"x" * (MAX_BLOB + 1)
    digest = "sha256:" + hashlib.sha256(big).hexdigest()
    declared = httpx.post(f"{gateway}/api/blobs/{digest}", content=big, headers=headers)
    assert declared.status_code == 413 and "error" in declared.json()

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        for start in range(0, len(big), 1 << 20):
            yield big[start : start + (1 << 20)]

    streamed = httpx.post(f"{gateway}/api/blobs/{digest}", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert _head(gateway, digest) == 404
    assert not list((store / "blobs").glob(".*tmp"))

    user = httpx.post(f"{gateway}/api/blobs/{zeros}", content=b"abc", headers={"X-API-KEY": KEY_B})
    assert user.status_code == 403
    assert _head(gateway, zeros, key=KEY_B) == 403


def test_hostile_create_requests(client, gateway, tiny_gguf):
    digest = client.create_blob(tiny_gguf)
    nothing = "sha256:" + "1" * 64
    cases = {
        "blob not found": dict(files={"m.gguf": nothing}),
        "file path must be relative": dict(files={"../m.gguf": digest}),
        "invalid template": dict(files={"m.gguf": digest}, template="{{ .Prompt "),
        "unsupported quantization type": dict(files={"m.gguf": digest}, quantize="q9_z"),
        "unknown parameter": dict(files={"m.gguf": digest}, parameters={"temprature": 1}),
        "parameter temperature must be a number": dict(
            files={"m.gguf": digest}, parameters={"temperature": "hot"}
        ),
        "option top_p is out of range": dict(files={"m.gguf": digest}, parameters={"top_p": 2}),
        "neither 'from' or 'files'": {},
        "quantization is only supported for": dict(from_="mine-q4", quantize="q4_K_M"),
    }
    client.create(model="mine-q4", files={"m.gguf": digest})  # an F32 model
    client.create(model="mine-q4", from_="mine-q4", quantize="Q8_0")  # now Q8_0
    client.create(model="mine-q4", from_="mine-q4", quantize="Q4_0")  # requantized
    assert _head(gateway, digest) == 404  # the F32 weights: no model uses them any more
    assert client.create_blob(tiny_gguf) == digest
    for expected, fields in cases.items():
        for stream in (False, True):
            status, message = _error(lambda f=fields, s=stream: client.create("x", **f, stream=s))
            assert status == 400 and expected in message, (expected, message)
    for name in ("/etc/passwd", "a\\b", "c:d", "./m.gguf", "a//b", ""):
        status, message = _error(lambda n=name: client.create("x", files={n: digest}))
        assert status == 400, (name, message)
    assert _error(lambda: client.create("../../x", files={"m.gguf": digest}))[0] == 400
    assert _error(lambda: client.create("x", from_="no-such-model"))[0] == 404
    assert "x" not in [m.model.split(":")[0] for m in client.list().models]

    user = ollama.Client(host=gateway, headers={"X-API-KEY": KEY_B})
    status, message = _error(lambda: user.create("x", files={"m.gguf": digest}))
    assert status == 403 and "may not use POST /api/create" in message
    client.delete("mine-q4")


SMOLLM2_TEMPLATE = (
    "{{- range .Messages }}<|im_start|>{{ .Role }}\n{{ .Content }}<|im_end|>\n{{ end -}}"
    "<|im_start|>assistant\n"
)


def test_a_template_put_on_the_packaged_real_model(client):
    """``from`` a packaged model not yet in the store imports it (no download), then the new
    model answers with the real weights through the template given here."""
    done = client.create(
        model="smollm2-chatml",
        from_="smollm2:135m",
        template=SMOLLM2_TEMPLATE,
        parameters={"stop": ["<|im_end|>"], "temperature": 0},
    )
    assert done.status == "success"
    shown = client.show("smollm2-chatml")
    assert shown.template == SMOLLM2_TEMPLATE and shown.details.family == "llama"
    answer = client.chat(
        "smollm2-chatml",
        [{"role": "user", "content": "What is the capital of France?"}],
        options={"num_predict": 16},
    )
    assert "Paris" in answer.message.content
    base = {m.model for m in client.list().models}
    assert {"smollm2:135m", "smollm2-chatml:latest"} <= base
    client.delete("smollm2-chatml")
    assert client.show("smollm2:135m").template != SMOLLM2_TEMPLATE  # the base is unchanged


def test_a_tools_template_through_create_gives_the_model_tools(client):
    """What the tool-calling tests do in the store directly, through the API: the packaged
    model with the ChatML tools template is a model that supports tools, and calls one."""
    from tests.support.gguf_models import chatml_caller_template

    template = chatml_caller_template()
    assert client.create(model="smol-tools", from_="smollm2:135m", template=template).status == (
        "success"
    )
    shown = client.show("smol-tools")
    assert shown.template == template and "tools" in shown.capabilities
    tool = {
        "type": "function",
        "function": {
            "name": "get_weather",
            "description": "The weather in a city",
            "parameters": {
                "type": "object",
                "properties": {"city": {"type": "string"}},
                "required": ["city"],
            },
        },
    }
    reply = client.chat(
        "smol-tools",
        [{"role": "user", "content": "What is the weather in Paris?"}],
        tools=[tool],
        options={"temperature": 0, "num_predict": 48},
    )
    assert reply.message.tool_calls and reply.message.tool_calls[0].function.name == "get_weather"
    client.delete("smol-tools")
