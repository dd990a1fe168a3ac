#!/usr/bin/env python3
# SPDX-License-Identifier: Apache-2.0
"""A TCP relay that holds every chunk DELAY ms before passing it on, in each direction.

This kernel has no netem, so the benchmark puts this in front of ck-fakeapi to give the miss
path a real network's round trip (10 ms each way by default). Chunks keep their order: each
direction is a queue drained by one task that sleeps until a chunk's release time.
Usage: delay_relay.py --to HOST:PORT [--delay-ms 10] --port-file FILE (listens on 127.0.0.1:0
and writes its port there once listening).
"""
import argparse
import asyncio
import os
import time


async def pump(reader, writer, delay):
    queue = asyncio.Queue()

    async def release():
        while True:
            due, data = await queue.get()
            if data is None:
                break
            wait = due - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            writer.write(data)
            await writer.drain()
        writer.close()

    task = asyncio.ensure_future(release())
    try:
        while True:
            data = await reader.read(65536)
            if not data:
                break
            queue.put_nowait((time.monotonic() + delay, data))
    except (ConnectionError, OSError):
        pass
    queue.put_nowait((0, None))
    try:
        await task
    except (ConnectionError, OSError):
        pass


async def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--to", required=True)
    ap.add_argument("--delay-ms", type=float, default=10.0)
    ap.add_argument("--port-file", required=True)
    args = ap.parse_args()
    host, port = args.to.rsplit(":", 1)
    delay = args.delay_ms / 1000.0

    async def on_client(creader, cwriter):
        try:
            ureader, uwriter = await asyncio.open_connection(host, int(port))
        except OSError:
            cwriter.close()
            return
        await asyncio.gather(pump(creader, uwriter, delay), pump(ureader, cwriter, delay))

    server = await asyncio.start_server(on_client, "127.0.0.1", 0, backlog=1024)
    tmp = args.port_file + ".tmp"
    with open(tmp, "w") as f:
        f.write(str(server.sockets[0].getsockname()[1]))
    os.rename(tmp, args.port_file)
    async with server:
        await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
