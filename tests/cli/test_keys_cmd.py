"""``ollama-gateway keys new``: a strong key, its keys-file line, and a gateway that accepts it."""

from __future__ import annotations

import hashlib
import os
import stat

from ollama_gateway.client import Client, ResponseError
from tests.client.gateway import running_gateway


def test_keys_new_prints_a_key_and_its_digest_line(cli):
    first = cli("keys", "new", key=None)
    second = cli("keys", "new", "--name", "alice", "--rpm", "60", "--tpm", "1000", key=None)
    assert first.exit_code == second.exit_code == 0
    key, line = first.stdout.splitlines()
    assert key.startswith("ogw_") and len(key) >= 40
    assert line == "sha256:" + hashlib.sha256(key.encode()).hexdigest()
    other, other_line = second.stdout.splitlines()
    assert other != key
    assert other_line.split()[1:] == ["name=alice", "rpm=60", "tpm=1000"]


def test_a_bad_name_is_a_usage_error(cli):
    result = cli("keys", "new", "--name", "a b", key=None)
    assert result.exit_code == 2
    assert "without spaces" in result.stderr


def test_the_gateway_accepts_a_new_key_from_the_keys_file(cli, ollama, tmp_path):
    keys_file = tmp_path / "keys"
    keys_file.write_text("# team keys")  # no final newline: the new line must still be separate
    result = cli("keys", "new", "--name", "ci", "--append", str(keys_file), key=None)
    assert result.exit_code == 0, result.output
    key = result.stdout.splitlines()[0]
    assert key not in keys_file.read_text()
    assert keys_file.read_text().splitlines()[1] == result.stdout.splitlines()[1]

    with running_gateway(ollama.url, keys_file=keys_file) as url:
        with Client(url, api_key=key, timeout=10) as client:
            assert client.generate("hi").generated_text == "Hello, world!"
        with Client(url, api_key=key[:-1], timeout=10) as client:
            try:
                client.generate("hi")
            except ResponseError as exc:
                assert exc.status_code == 401
            else:
                raise AssertionError("a truncated key was accepted")


def test_a_new_keys_file_is_private(cli, tmp_path):
    keys_file = tmp_path / "new-keys"
    result = cli("keys", "new", "--append", str(keys_file), key=None)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(os.stat(keys_file).st_mode) == 0o600
