"""Hostile clients for bench/stress.sh, over loopback only; every wait is bounded.

  python3 bench/stress_clients.py slowloris PORT SLOW INTERVAL HEADER_TIMEOUT OK_STATUS
      SLOW connections each send a request head one byte every INTERVAL seconds and never end
      it; meanwhile a normal GET on a fresh connection every 0.25 s. Prints one `key=value` line:
      how many slow connections were closed, how many got 408, when (seconds after their first
      byte, min/max), and the normal GETs' count, failures and worst latency in ms.

  python3 bench/stress_clients.py flood PORT CONNS OK_STATUS
      Opens CONNS connections (each sends half a request head), holds them 3 s, closes them all,
      then sends normal GETs (for up to 10 s) until one is answered with OK_STATUS. Prints how
      many connected and how long the first answered GET took after the close.
"""
import asyncio
import sys
import time

HOST = "127.0.0.1"
NORMAL = b"GET /index.html HTTP/1.1\r\nHost: stress\r\nConnection: close\r\n\r\n"
SLOW = b"GET /index.html HTTP/1.1\r\nHost: stress\r\nX-Slow: " + b"a" * 4000


async def normal_get(port, timeout=5.0):
    """One GET on a fresh connection: (status or None, seconds)."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), timeout)
        writer.write(NORMAL)
        line = await asyncio.wait_for(reader.readline(), timeout)
        writer.close()
        status = int(line.split()[1]) if line.startswith(b"HTTP/1.") else None
    except (OSError, asyncio.TimeoutError, ValueError, IndexError):
        status = None
    return status, time.monotonic() - started


async def slow_client(port, interval, limit, results):
    try:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 10)
    except (OSError, asyncio.TimeoutError):
        results.append(("connect-failed", None))
        return
    first = time.monotonic()

    async def trickle():
        for byte in SLOW:
            writer.write(bytes([byte]))
            await writer.drain()
            await asyncio.sleep(interval)

    sender = asyncio.ensure_future(trickle())
    try:
        got = await asyncio.wait_for(reader.read(4096), limit)
        # Read the rest until the server closes (bounded).
        while True:
            more = await asyncio.wait_for(reader.read(4096), limit)
            if not more:
                break
            got += more
        results.append(("408" if got.startswith(b"HTTP/1.1 408") else "closed", time.monotonic() - first))
    except asyncio.TimeoutError:
        results.append(("open", None))
    except OSError:
        results.append(("reset", time.monotonic() - first))
    finally:
        sender.cancel()
        writer.close()


async def slowloris(port, slow, interval, header_timeout, ok_status):
    results = []
    limit = header_timeout + 15
    clients = [asyncio.ensure_future(slow_client(port, interval, limit, results)) for _ in range(slow)]
    await asyncio.sleep(0.5)
    lat, failed = [], 0
    # Normal GETs while the slow ones are still open (they close at the header timeout).
    end = time.monotonic() + max(header_timeout - 1.0, 1.0)
    while time.monotonic() < end:
        status, took = await normal_get(port)
        if status == ok_status:
            lat.append(took)
        else:
            failed += 1
        await asyncio.sleep(0.25)
    await asyncio.wait(clients, timeout=limit + 5)
    closed = [t for kind, t in results if kind in ("408", "closed", "reset")]
    got408 = sum(1 for kind, _ in results if kind == "408")
    still_open = sum(1 for kind, _ in results if kind == "open")
    print(
        f"slow={slow} closed={len(closed)} got408={got408} open={still_open} "
        f"close_min_s={min(closed, default=0):.2f} close_max_s={max(closed, default=0):.2f} "
        f"gets={len(lat)} get_failures={failed} get_max_ms={max(lat, default=0) * 1000:.1f} "
        f"get_median_ms={sorted(lat)[len(lat) // 2] * 1000 if lat else 0:.1f}"
    )


async def flood(port, conns, ok_status):
    writers = []

    async def one():
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), 5)
            writer.write(b"GET / HTTP/1.1\r\n")
            writers.append(writer)
        except (OSError, asyncio.TimeoutError):
            pass

    # In batches, so the listen backlog is not the only thing being measured.
    for start in range(0, conns, 200):
        await asyncio.gather(*(one() for _ in range(start, min(conns, start + 200))))
    connected = len(writers)
    await asyncio.sleep(3)
    for writer in writers:
        writer.close()
    closed_at = time.monotonic()
    answered = None
    while time.monotonic() - closed_at < 10:
        status, _ = await normal_get(port, timeout=2)
        if status == ok_status:
            answered = time.monotonic() - closed_at
            break
        await asyncio.sleep(0.2)
    after = f"{answered:.2f}" if answered is not None else "never"
    print(f"conns={conns} connected={connected} served_after_s={after}")


def main():
    mode, port = sys.argv[1], int(sys.argv[2])
    if mode == "slowloris":
        slow, interval, timeout, ok = int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
        asyncio.run(slowloris(port, slow, interval, timeout, ok))
    elif mode == "flood":
        asyncio.run(flood(port, int(sys.argv[3]), int(sys.argv[4])))
    else:
        sys.exit(f"unknown mode {mode}")


if __name__ == "__main__":
    main()
