"""The pull progress bar as a terminal shows it: size, speed and time left."""

from __future__ import annotations

import io
import itertools
import re

from rich.console import Console

from ollama_gateway.cli.pull_cmd import PullProgress

MB = 1_000_000


def test_the_bar_shows_size_speed_and_time_left():
    clock = itertools.count()  # one second per reading of the clock
    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=120, color_system=None)
    layer = {"status": "pulling 6e4c38e1172f", "digest": "sha256:6e4c38e1172f" + "0" * 52}
    with PullProgress(console, get_time=lambda: float(next(clock))) as view:
        view.update({"status": "pulling manifest"})
        for done in (0, 100, 200):
            view.update({**layer, "total": 300 * MB, "completed": done * MB})
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", screen.getvalue())
    assert text.startswith("pulling manifest\n")
    final = text.split("\r")[-1].split()
    assert final[:2] == ["pulling", "6e4c38e1172f"]
    assert final[-5:] == ["200.0/300.0", "MB", "100.0", "MB/s", "0:00:01"]
