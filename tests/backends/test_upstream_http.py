"""The lean upstream HTTP client against scripted HTTP servers on loopback."""

from __future__ import annotations

import asyncio
import socket
import ssl
import subprocess
from collections.abc import Awaitable, Callable

import pytest

from ollama_gateway.backends.upstream.http import (
    ConnectFailed,
    ConnectionDropped,
    ReadTimeout,
    UpstreamClient,
)

Reply = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[bool]]


class Server:
    """A loopback server that reads each request and lets ``reply`` answer it.

    ``reply(request, reader, writer)`` writes the answer and returns whether to keep the
    connection open for the next request.
    """

    def __init__(self, reply: Reply) -> None:
        self.reply = reply
        self.connections = 0
        self.requests: list[bytes] = []
        self.closed_by_client = asyncio.Event()
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> Server:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.url = f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}"
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                if not await self.reply(request, reader, writer):
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed_by_client.set()
        except asyncio.CancelledError:
            pass  # the test ended while this connection was open
        finally:
            writer.close()


def _plain(body: bytes, *extra: str) -> bytes:
    head = "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\n" + "".join(
        f"{h}\r\n" for h in extra
    )
    return f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body


def _client(url: str, **kwargs) -> UpstreamClient:
    return UpstreamClient(url, connect_timeout=2.0, **kwargs)


async def _get(client: UpstreamClient, path: str = "api/x", body: bytes | None = None) -> bytes:
    resp = await client.request("POST", path, body, read_timeout=2.0, total_timeout=5.0)
    async with resp:
        assert resp.status == 200
        return await resp.read()


async def test_keep_alive_connections_are_reused():
    async def reply(request, reader, writer):
        writer.write(_plain(b'{"ok":true}'))
        return True

    async with Server(reply) as server:
        client = _client(server.url)
        for _ in range(5):
            assert await _get(client, body=b'{"a":1}') == b'{"ok":true}'
        await client.close()
    assert server.connections == 1 and client.connections_made == 1
    head, _, body = server.requests[0].partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"POST /api/x HTTP/1.1"
    assert f"Host: {server.url[7:]}".encode() in lines
    assert b"Content-Type: application/json" in lines
    assert b"Accept-Encoding: identity" in lines
    assert b"Content-Length: 7" in lines and body == b'{"a":1}'


async def test_chunked_body_arrives_piece_by_piece():
    async def reply(request, reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for piece in (b'{"n":1}\n', b'{"n":2}\n', b'{"n":3}\n'):
            writer.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            await writer.drain()
            await asyncio.sleep(0.02)
        writer.write(b"0\r\n\r\n")
        return True

    async with Server(reply) as server:
        client = _client(server.url)
        resp = await client.request("POST", "api/chat", b"{}", read_timeout=2, total_timeout=5)
        pieces = [piece async for piece in resp]
        assert pieces == [b'{"n":1}\n', b'{"n":2}\n', b'{"n":3}\n']
        assert await _get(client) == b"".join(pieces)  # on the same connection
        await client.close()
    assert server.connections == 1


async def test_connection_close_and_read_until_close():
    async def reply(request, reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nall of it")
        return False

    async with Server(reply) as server:
        client = _client(server.url)
        assert await _get(client) == b"all of it"
        assert await _get(client) == b"all of it"
        await client.close()
    assert server.connections == 2


async def test_an_idle_connection_the_server_closed_is_not_reused():
    async def reply(request, reader, writer):
        writer.write(_plain(b"1"))
        await writer.drain()
        return False  # keep-alive reply, but the server closes the connection afterwards

    async with Server(reply) as server:
        client = _client(server.url)
        assert await _get(client) == b"1"
        await asyncio.sleep(0.1)  # the close reaches the pooled connection
        assert await _get(client) == b"1"
        await client.close()
    assert server.connections == 2


async def test_a_stale_pooled_connection_is_retried_once_on_a_fresh_one():
    async def reply(request, reader, writer):
        if len(server.requests) == 2:
            return False  # the second request dies on the reused connection, unanswered
        writer.write(_plain(b"fine"))
        return True

    async with Server(reply) as server:
        client = _client(server.url)
        assert await _get(client) == b"fine"
        assert await _get(client) == b"fine"
        await client.close()
    assert server.connections == 2 and len(server.requests) == 3


async def test_a_fresh_connection_closed_without_reply_is_not_retried():
    async def reply(request, reader, writer):
        return False

    async with Server(reply) as server:
        client = _client(server.url)
        with pytest.raises(ConnectFailed):
            await _get(client)
        await client.close()
    assert len(server.requests) == 1


async def test_nothing_listening_is_connect_failed():
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.close()
    client = _client(f"http://127.0.0.1:{port}")
    with pytest.raises(ConnectFailed):
        await _get(client)


async def test_stalls_time_out():
    async def reply(request, reader, writer):
        if b"/head" in request:
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
        await asyncio.sleep(3)
        return False

    async with Server(reply) as server:
        client = _client(server.url)
        started = asyncio.get_running_loop().time()
        with pytest.raises(ReadTimeout):
            await client.request("GET", "api/none", read_timeout=0.2, total_timeout=5)
        resp = await client.request("GET", "api/head", read_timeout=0.2, total_timeout=5)
        with pytest.raises(ReadTimeout):
            await resp.read()
        resp = await client.request("GET", "api/head", read_timeout=5, total_timeout=0.3)
        with pytest.raises(ReadTimeout):
            await resp.read()
        assert asyncio.get_running_loop().time() - started < 2
        await client.close()


async def test_a_connection_dropped_mid_body_is_reported():
    async def reply(request, reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
        await writer.drain()
        return False

    async with Server(reply) as server:
        client = _client(server.url)
        resp = await client.request("GET", "api/x", read_timeout=2, total_timeout=5)
        with pytest.raises(ConnectionDropped):
            await resp.read()
        await client.close()


async def test_closing_a_stream_early_closes_its_socket():
    async def reply(request, reader, writer):
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        while True:  # for ever, until the client leaves
            writer.write(b"6\r\ntoken\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.01)

    async with Server(reply) as server:
        client = _client(server.url)
        resp = await client.request("GET", "api/x", read_timeout=2, total_timeout=5)
        async for piece in resp:
            assert piece.startswith(b"token")
            break
        resp.close()
        await asyncio.wait_for(server.closed_by_client.wait(), 3)
        assert await asyncio.wait_for(_next_connection_count(client, server), 3) == 2
        await client.close()


async def _next_connection_count(client: UpstreamClient, server: Server) -> int:
    resp = await client.request("GET", "api/x", read_timeout=2, total_timeout=5)
    resp.close()
    return server.connections


async def test_a_large_reply_with_a_slow_consumer_is_flow_controlled():
    body = bytes(range(256)) * (32 << 10)  # 8 MiB, far more than a socket buffer

    async def reply(request, reader, writer):
        writer.write(_plain(body))
        await writer.drain()
        return True

    async with Server(reply) as server:
        client = _client(server.url)
        resp = await client.request("GET", "api/big", read_timeout=2, total_timeout=20)
        received, largest = [], 0
        async for piece in resp:
            received.append(piece)
            largest = max(largest, len(piece))
            await asyncio.sleep(0.002)
        assert b"".join(received) == body
        assert largest < 1 << 20  # reading paused near the high-water mark
        assert await _get(client, "api/big") == body  # the connection went back to the pool
        await client.close()
    assert server.connections == 1


async def test_the_pool_is_bounded():
    open_now = peak = 0

    async def reply(request, reader, writer):
        nonlocal open_now, peak
        open_now += 1
        peak = max(peak, open_now)
        await asyncio.sleep(0.05)
        open_now -= 1
        writer.write(_plain(b"x"))
        return True

    async with Server(reply) as server:
        client = _client(server.url, limit=2)
        results = await asyncio.gather(*(_get(client) for _ in range(6)))
        await client.close()
    assert results == [b"x"] * 6
    assert peak == 2 and server.connections == 2


async def test_waiting_for_a_free_connection_is_bounded_by_the_deadline():
    async def reply(request, reader, writer):
        writer.write(_plain(b"y"))
        return True

    async with Server(reply) as server:
        client = _client(server.url, limit=1)
        held = await client.request("GET", "api/x", read_timeout=2, total_timeout=5)
        with pytest.raises(ReadTimeout):
            await client.request("GET", "api/x", read_timeout=2, total_timeout=0.2)
        waiting = asyncio.ensure_future(_get(client))
        await asyncio.sleep(0.05)
        assert not waiting.done()
        assert await held.read() == b"y"  # frees the slot for the waiting request
        assert await asyncio.wait_for(waiting, 3) == b"y"
        await client.close()
    assert server.connections == 1


async def test_https_upstreams_are_verified_and_work(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1"),
            *("-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1"),
            *("-keyout", str(key), "-out", str(cert)),
        ],
        check=True,
        capture_output=True,
        timeout=30,
    )
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_ctx.load_cert_chain(cert, key)

    async def serve(reader, writer):
        await reader.readuntil(b"\r\n\r\n")
        writer.write(_plain(b"secure"))
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0, ssl=server_ctx)
    url = f"https://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    try:
        trusting = _client(url, ssl=ssl.create_default_context(cafile=str(cert)))
        assert await _get(trusting) == b"secure"
        await trusting.close()
        with pytest.raises(ConnectFailed):  # the default context does not trust it
            await _get(_client(url))
    finally:
        server.close()


async def test_extra_headers_go_with_every_request_and_bad_ones_are_refused():
    async def reply(request, reader, writer):
        writer.write(_plain(b"{}"))
        return True

    async with Server(reply) as server:
        client = _client(server.url, headers={"Authorization": "Bearer s3cret", "X-Team": "a"})
        await _get(client)
        resp = await client.request("GET", "v1/models", read_timeout=2, total_timeout=5)
        await resp.read()
        await client.close()
    for request in server.requests:
        lines = request.partition(b"\r\n\r\n")[0].split(b"\r\n")
        assert b"Authorization: Bearer s3cret" in lines and b"X-Team: a" in lines
    with pytest.raises(ValueError, match="X-Bad") as refused:
        UpstreamClient(server.url, headers={"X-Bad": "a\r\nHost: evil"})
    assert "evil" not in str(refused.value)  # a value (a credential) is never in a message
    with pytest.raises(ValueError):
        UpstreamClient(server.url, headers={"X-Bad\r\nHost": "a"})


async def test_address_connects_elsewhere_and_keeps_the_host_header():
    async def reply(request, reader, writer):
        writer.write(_plain(b"{}"))
        return True

    async with Server(reply) as server:
        port = server.url.rsplit(":", 1)[1]
        client = _client(f"http://upstream.invalid:{port}", address="127.0.0.1")
        await _get(client)
        await client.close()
    assert f"Host: upstream.invalid:{port}".encode() in server.requests[0].split(b"\r\n")
