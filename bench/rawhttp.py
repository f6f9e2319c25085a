"""A lean HTTP/1.1 keep-alive client for benchmarks: the load generator should cost the 2-core machine as
little CPU as possible, and httpx spends ~2.5 ms of it per request (more than some of the requests it
measures). Enough of HTTP for our own servers: Content-Length or chunked responses, JSON and multipart
bodies. Not for production code: no TLS, no redirects, no proxies."""

from __future__ import annotations

import asyncio
import json as jsonlib
import uuid
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit


@dataclass(slots=True)
class Response:
    status_code: int
    headers: dict[str, str]  # lower-case names
    content: bytes

    @property
    def text(self) -> str:
        return self.content.decode("utf-8", "replace")

    def json(self) -> Any:
        return jsonlib.loads(self.content)

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300


class Client:
    """`size` keep-alive connections to one origin, each used by one request at a time."""

    def __init__(self, base_url: str, size: int = 32, timeout: float = 60.0) -> None:
        parts = urlsplit(base_url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.authority = f"{self.host}:{self.port}".encode()
        self.timeout = timeout
        self._idle: asyncio.Queue[tuple[asyncio.StreamReader, asyncio.StreamWriter]] = asyncio.Queue()
        self._slots = asyncio.Semaphore(size)
        self._open: list[asyncio.StreamWriter] = []

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        for writer in self._open:
            writer.close()
        self._open.clear()

    async def get(self, path: str, **kwargs: Any) -> Response:
        return await self.request("GET", path, **kwargs)

    async def post(self, path: str, **kwargs: Any) -> Response:
        return await self.request("POST", path, **kwargs)

    async def request(self, method: str, path: str, *, headers: dict[str, str] | None = None, json: Any = None,
                      files: dict[str, tuple[str, bytes, str]] | None = None) -> Response:
        head = dict(headers or {})
        body = b""
        if json is not None:
            body = jsonlib.dumps(json, ensure_ascii=False).encode()
            head["Content-Type"] = "application/json"
        elif files:
            boundary = uuid.uuid4().hex
            parts = []
            for field, (filename, data, content_type) in files.items():
                parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; '
                             f'filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode() + data + b"\r\n")
            body = b"".join(parts) + f"--{boundary}--\r\n".encode()
            head["Content-Type"] = f"multipart/form-data; boundary={boundary}"
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.authority,
                 b"Content-Length: " + str(len(body)).encode()]
        lines += [f"{k}: {v}".encode() for k, v in head.items()]
        raw = b"\r\n".join(lines) + b"\r\n\r\n" + body
        async with self._slots:
            while True:  # an idle connection the server has closed is dropped, and the next one tried
                try:
                    reader, writer = self._idle.get_nowait()
                    reused = True
                except asyncio.QueueEmpty:
                    reader, writer = await asyncio.open_connection(self.host, self.port)
                    self._open.append(writer)
                    reused = False
                writer.write(raw)
                try:
                    response = await asyncio.wait_for(self._read(reader), self.timeout)
                except (asyncio.IncompleteReadError, ConnectionError):
                    writer.close()
                    self._open.remove(writer)
                    if reused:  # the server closed this idle keep-alive connection: send again
                        continue
                    raise
                if response.headers.get("connection", "").lower() == "close":
                    writer.close()
                    self._open.remove(writer)
                else:
                    self._idle.put_nowait((reader, writer))
                return response

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Response:
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        headers: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
        if "content-length" in headers:
            content = await reader.readexactly(int(headers["content-length"]))
        elif headers.get("transfer-encoding", "").lower() == "chunked":
            chunks = []
            while size := int((await reader.readuntil(b"\r\n"))[:-2].split(b";")[0], 16):
                chunks.append(await reader.readexactly(size))
                await reader.readexactly(2)
            await reader.readuntil(b"\r\n")
            content = b"".join(chunks)
        else:
            content = b""
        return Response(int(status_line[9:12]), headers, content)
