"""A byte relay from a Unix socket to a TCP datastore:

    python -m tortie.lab.relay SOCKET HOST:PORT[,HOST:PORT...]

Lab agents live in node namespaces, which cannot reach 127.0.0.1 of the machine's own
namespace; a Unix socket is reachable from every namespace. The relay runs in the machine's
namespace and copies bytes both ways (TLS passes through untouched), trying the endpoints in
order for each connection. It changes nothing in any network namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        with contextlib.suppress(ConnectionError, OSError):
            writer.close()


async def _serve(path: str, endpoints: list[tuple[str, int]]) -> None:
    async def handle(client_reader: asyncio.StreamReader, client_writer: asyncio.StreamWriter) -> None:
        for host, port in endpoints:
            try:
                upstream_reader, upstream_writer = await asyncio.open_connection(host, port)
                break
            except OSError:
                continue
        else:
            client_writer.close()
            return
        await asyncio.gather(_pipe(client_reader, upstream_writer), _pipe(upstream_reader, client_writer))

    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)
    server = await asyncio.start_unix_server(handle, path)
    os.chmod(path, 0o600)
    async with server:
        await server.serve_forever()


def main(argv: list[str]) -> int:
    path, targets = argv
    endpoints = [(host, int(port)) for host, _, port in (t.rpartition(":") for t in targets.split(","))]
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_serve(path, endpoints))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
