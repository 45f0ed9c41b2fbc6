"""``ollama-gateway pull``: download a model through the gateway, or straight into the store."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from ollama_gateway.cli._remote import client_options
from ollama_gateway.client import Client

DEFAULT_REGISTRY = "https://registry.ollama.ai"


class PullProgress:
    """Shows Ollama's pull progress lines: one bar per layer, other statuses as lines.

    Each event is ``{"status", "digest"?, "total"?, "completed"?}``; bars show bytes, speed
    and time left. Everything goes to stderr; the command prints the final status to stdout.
    """

    def __init__(
        self, console: Console | None = None, get_time: Callable[[], float] | None = None
    ) -> None:
        self.console = console or Console(stderr=True, highlight=False)
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            console=self.console,
            get_time=get_time,
        )
        self._started = False  # the bars appear with the first layer: no empty bar on errors
        self._tasks: dict[str, TaskID] = {}
        self._last_status = ""
        self.last_status = ""

    def __enter__(self) -> PullProgress:
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._started:
            self.progress.stop()

    def update(self, event: Mapping[str, Any]) -> None:
        """Show one progress event."""
        status = str(event.get("status") or "")
        digest = event.get("digest")
        total = event.get("total")
        if digest and total:
            if not self._started:
                self.progress.start()
                self._started = True
            task = self._tasks.get(digest)
            if task is None:
                name = str(digest).removeprefix("sha256:")[:12]
                task = self.progress.add_task(f"pulling {name}", total=int(total))
                self._tasks[digest] = task
            self.progress.update(task, completed=int(event.get("completed") or 0))
        elif status and status != self._last_status and status != "success":
            self.console.print(status, markup=False, highlight=False)
        if status:
            self._last_status = status
            self.last_status = status


def show_progress(events: Iterable[Mapping[str, Any]]) -> str:
    """Render a stream of progress events; return the last status (``"success"``)."""
    with PullProgress() as view:
        for event in events:
            view.update(event)
    return view.last_status


async def _show_progress_async(events: AsyncIterator[Mapping[str, Any]]) -> str:
    with PullProgress() as view:
        async for event in events:
            view.update(event)
    return view.last_status


def _direct(name: str, models_dir: Path | None, registry: str, insecure: bool) -> str:
    """Pull into the local model store, without a gateway (needs the server extras)."""
    try:
        from ollama_gateway.errors import GatewayError
        from ollama_gateway.models.pull import pull_model
        from ollama_gateway.models.store import ModelStore
    except ImportError as exc:
        raise click.ClickException(
            f"--direct needs the server parts of ollama-gateway ({exc}); "
            "install them with: pip install 'ollama-gateway[server]'"
        ) from None
    root = (models_dir or Path.home() / ".ollama" / "models").expanduser()
    try:
        store = ModelStore(root)
        return asyncio.run(
            _show_progress_async(pull_model(name, store, registry, insecure=insecure))
        )
    except GatewayError as exc:
        raise click.ClickException(str(exc)) from None
    except OSError as exc:
        raise click.ClickException(f"cannot write the model store at {root}: {exc}") from None


@click.command()
@click.argument("name")
@click.option("--insecure", is_flag=True, help="Allow a registry over plain http.")
@click.option(
    "--direct",
    is_flag=True,
    help="Pull straight into the local model store instead of through a gateway.",
)
@click.option(
    "--models-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar=["OLLAMA_GATEWAY_MODELS_DIR", "OLLAMA_MODELS"],
    show_envvar=True,
    help="With --direct: the model store [default: ~/.ollama/models].",
)
@click.option(
    "--registry",
    default=DEFAULT_REGISTRY,
    envvar="OLLAMA_GATEWAY_REGISTRY_URL",
    show_default=True,
    show_envvar=True,
    help="With --direct: the registry to pull from.",
)
@client_options
def pull(
    client: Client,
    name: str,
    insecure: bool,
    direct: bool,
    models_dir: Path | None,
    registry: str,
) -> None:
    """Download model NAME (e.g. qwen2.5:0.5b), with a progress bar."""
    if direct:
        status = _direct(name, models_dir, registry, insecure)
    else:
        status = show_progress(p.to_dict() for p in client.pull(name, insecure=insecure))
    click.echo(status or "done")
