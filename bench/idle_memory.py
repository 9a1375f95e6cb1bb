#!/usr/bin/env python3
"""Memory per idle kept-alive connection of a server process: open N connections to
127.0.0.1:PORT, send one request on each and read its answer, then compare the process's
resident memory (VmRSS from /proc, with its children) before and after.

    python3 bench/idle_memory.py PID PORT [N=10000] [PATH=/index.html]

Prints "connections rss_before_kib rss_after_kib bytes_per_connection". Needs `ulimit -n` above N.
"""
import os
import resource
import socket
import sys
import time


def rss_kib(pid):
    total = 0
    pids = [pid]
    while pids:
        p = pids.pop()
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
            with open(f"/proc/{p}/task/{p}/children") as f:
                pids += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return total


def main():
    pid, port = int(sys.argv[1]), int(sys.argv[2])
    n = int(sys.argv[3]) if len(sys.argv) > 3 else 10000
    path = sys.argv[4] if len(sys.argv) > 4 else "/index.html"
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, n + 100)), hard))
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode()
    time.sleep(0.5)
    before = rss_kib(pid)
    conns = []
    for _ in range(n):
        s = socket.create_connection(("127.0.0.1", port), timeout=10)
        s.sendall(request)
        got = b""
        while b"\r\n\r\n" not in got:
            chunk = s.recv(4096)
            if not chunk:
                sys.exit("connection closed before its answer")
            got += chunk
        conns.append(s)
    time.sleep(1)
    after = rss_kib(pid)
    print(n, before, after, round((after - before) * 1024 / n))
    for s in conns:
        s.close()


if __name__ == "__main__":
    main()
