#!/usr/bin/env python3
"""The cold path of `balancer --verify-files`: the first request for each of N paths (each one
makes the balancer HEAD the picked server, and the origin, before it redirects), beside one HEAD
of the same path straight to a server over a new connection. Prints the p50 and p99 of both in
milliseconds, one line: "cold_p50 cold_p99 head_p50 head_p99".

usage: cold_path.py BALANCER_PORT SERVER_PORT PREFIX N   (paths PREFIX0 .. PREFIX{N-1})
"""
import socket
import sys
import time


def exchange(port, request):
    """Send `request` on a new connection and read until the head ends; seconds taken."""
    started = time.perf_counter()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
        s.sendall(request)
        got = b""
        while b"\r\n\r\n" not in got:
            piece = s.recv(4096)
            if not piece:
                break
            got += piece
    elapsed = time.perf_counter() - started
    status = got.split(b" ", 2)[1] if got.startswith(b"HTTP/1.1 ") else b"?"
    return elapsed, status


def percentile(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(p * len(values)))]


def main():
    balancer, server, prefix, n = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    cold, head = [], []
    for i in range(n):
        path = f"{prefix}{i}"
        t, status = exchange(balancer, f"GET {path} HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n".encode())
        if status != b"301":
            sys.exit(f"cold_path: {path} answered {status!r}, not 301")
        cold.append(t * 1000)
        t, status = exchange(server, f"HEAD {path} HTTP/1.1\r\nHost: s\r\nConnection: close\r\n\r\n".encode())
        if status != b"200":
            sys.exit(f"cold_path: HEAD {path} answered {status!r}, not 200")
        head.append(t * 1000)
    print(" ".join(f"{v:.3f}" for v in (percentile(cold, 0.5), percentile(cold, 0.99),
                                         percentile(head, 0.5), percentile(head, 0.99))))


main()
