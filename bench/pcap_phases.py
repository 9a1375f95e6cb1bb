#!/usr/bin/env python3
"""Where a TLS connection's time goes, from a loopback packet capture of a wrk run.

    python3 bench/pcap_phases.py CAPTURE.pcap SERVER_PORT

wrk (like any closed-loop generator) times a request from the moment it writes it to the moment
its event loop gets round to reading the answer. When wrk is the saturated side, that figure
holds wrk's own queue, not the server's. The packets tell the two apart. For every request to
SERVER_PORT (IPv4, as captured by `tcpdump -i lo -w`), keep-alive or not:

    answer      request arrives -> first byte of the answer leaves  (the server)

and for each connection that carried one request (`wrk -H "Connection: close"`), its phases:

    syn_hello   client's SYN -> its ClientHello            (the client)
    handshake   ClientHello -> server's first TLS flight   (the server)
    client      server's flight -> client's Finished       (the client)
    to_request  client's Finished -> its request           (the client)
    wrk_reads   request -> client's close_notify, sent once wrk has read the answer

Prints p50/p90/p99 per phase in milliseconds, then one line for scripts:
"summary ANSWER_P50 ANSWER_P99 HANDSHAKE_P99" (the last nan when no connection carried a
single request).
No dependency beyond the standard library: reads the classic pcap format only.
"""
import struct
import sys


def packets(path):
    with open(path, "rb") as f:
        head = f.read(24)
        magic = struct.unpack("<I", head[:4])[0]
        if magic not in (0xA1B2C3D4, 0xA1B23C4D):
            sys.exit(f"{path}: not a little-endian pcap file")
        scale = 1e-9 if magic == 0xA1B23C4D else 1e-6
        link = struct.unpack("<I", head[20:24])[0]
        offset = {0: 4, 1: 14, 113: 16, 276: 20}.get(link)
        if offset is None:
            sys.exit(f"{path}: link type {link} not handled")
        while True:
            rec = f.read(16)
            if len(rec) < 16:
                return
            sec, frac, caplen, _ = struct.unpack("<IIII", rec)
            data = f.read(caplen)
            ip = data[offset:]
            if len(ip) < 20 or ip[0] >> 4 != 4:
                continue
            ihl = (ip[0] & 15) * 4
            total = struct.unpack(">H", ip[2:4])[0]
            tcp = ip[ihl:]
            if len(tcp) < 14:
                continue
            sport, dport, seq = struct.unpack(">HHI", tcp[:8])
            payload = total - ihl - (tcp[12] >> 4) * 4
            yield sec + frac * scale, sport, dport, tcp[13], payload, seq


def phases(path, port):
    """Per connection to `port`: the time of its SYN (None if the capture began after it) and
    its data segments in order, as (time, "c" or "s"); a retransmission (a sequence number seen
    before, as when a tail-loss probe resends a request the server has not yet acknowledged)
    is not a new segment."""
    conns = {}
    for t, sport, dport, flags, payload, seq in packets(path):
        if dport == port:
            key, side = sport, "c"
        elif sport == port:
            key, side = dport, "s"
        else:
            continue
        if side == "c" and flags & 2:  # a SYN: a new connection (client ports are reused)
            conns[key] = (t, [], set())
        elif payload > 0:
            _, segs, seen = conns.setdefault(key, (None, [], set()))
            if (side, seq) not in seen:
                seen.add((side, seq))
                segs.append((t, side))
    return [(syn, segs) for syn, segs, _ in conns.values()]


def answers(conns):
    """Request in -> first byte of the answer out, for every request: each client segment after
    the ClientHello and Finished that the server answers before the client sends again."""
    out = []
    for syn, segs in conns:
        if syn is None:
            continue  # begun before the capture: which segment is which is unknown
        seen = 0
        for i, (t, side) in enumerate(segs):
            if side != "c":
                continue
            seen += 1
            if seen <= 2 or i + 1 == len(segs) or segs[i + 1][1] != "s":
                continue
            out.append(segs[i + 1][0] - t)
    return out


def handshakes(conns):
    """The phases of connections with one request each (wrk -H "Connection: close")."""
    rows = []
    for syn, segs in conns:
        client = [t for t, side in segs if side == "c"]
        server = [t for t, side in segs if side == "s"]
        # ClientHello, Finished, request, close_notify; a connection cut off by the capture's
        # start or end lacks some and is left out.
        if syn is None or len(client) != 4 or not server:
            continue
        hello, finished, request, bye = client
        flight = next((t for t in server if t > hello), None)
        if flight is None or server[-1] < request:  # no flight, or no answer
            continue
        rows.append({
            "syn_hello": hello - syn,
            "handshake": flight - hello,
            "client": finished - flight,
            "to_request": request - finished,
            "wrk_reads": bye - request,
        })
    return rows


def percentiles(values, qs=(0.5, 0.9, 0.99)):
    """The values at these quantiles (nearest rank below), sorting once."""
    values = sorted(values)
    return [values[min(len(values) - 1, int(q * len(values)))] for q in qs]


def main():
    if len(sys.argv) != 3:
        sys.exit(__doc__.split("\n\n")[1])
    path, port = sys.argv[1], int(sys.argv[2])
    conns = phases(path, port)
    answered = [a * 1e3 for a in answers(conns)]
    if not answered:
        sys.exit(f"{path}: no answered request to port {port}")
    rows = handshakes(conns)
    print(f"{len(answered)} requests answered; ms")
    table = {"answer": percentiles(answered)}
    if rows:
        print(f"{len(rows)} connections with one request each")
        for k in rows[0]:
            table[k] = percentiles(r[k] * 1e3 for r in rows)
    for k, (p50, p90, p99) in table.items():
        print(f"{k:11s} p50 {p50:7.3f}  p90 {p90:7.3f}  p99 {p99:7.3f}")
    hello99 = table["handshake"][2] if rows else float("nan")
    print(f"summary {table['answer'][0]:.3f} {table['answer'][2]:.3f} {hello99:.3f}")


if __name__ == "__main__":
    main()
