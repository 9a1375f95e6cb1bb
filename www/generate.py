#!/usr/bin/env python3
"""Regenerate the sample site's binary files, deterministically, with the standard library only.

    python3 www/generate.py      # writes www/logo.png, www/photo.jpg, www/data.bin, www/probe.bin,
                                 # www/release.bin

- logo.png: 96x96 RGB gradient with a ring (zlib-compressed PNG).
- photo.jpg: 128x96 colour baseline JPEG, one flat colour per 8x8 block (DC coefficients only),
  written by the tiny encoder below.
- data.bin: 64 KiB, SHA-256 in counter mode over b"ricochet data" (incompressible).
- probe.bin: 256 KiB, SHA-256 in counter mode over b"ricochet probe": the file the balancer
  downloads to time each server.
- release.bin: 8 KiB, SHA-256 in counter mode over b"ricochet release": the file the demo
  cluster's second server lacks (see docs/cluster.md).
"""
import hashlib
import math
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))


def counter_bytes(label: bytes, size: int) -> bytes:
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(label + i.to_bytes(8, "big")).digest()
        i += 1
    return bytes(out[:size])


def pixel(x, y, w, h):
    """A smooth colour field with a ring, shared by both images."""
    cx, cy = w / 2, h / 2
    d = math.hypot(x - cx, y - cy) / (min(w, h) / 2)
    r = int(40 + 180 * x / w)
    g = int(60 + 150 * y / h)
    b = 200 if 0.55 < d < 0.75 else int(90 + 60 * d)
    return min(r, 255), min(g, 255), min(b, 255)


def png(w, h):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    raw = bytearray()
    for y in range(h):
        raw.append(0)  # filter: none
        for x in range(w):
            raw += bytes(pixel(x, y, w, h))
    return (b"\x89PNG\r\n\x1a\n"
            + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(bytes(raw), 9))
            + chunk(b"IEND", b""))


def huffman_codes(bits, vals):
    """Canonical Huffman codes (JPEG Annex C) as {symbol: (code, length)}."""
    codes, code, k = {}, 0, 0
    for length in range(1, 17):
        for _ in range(bits[length - 1]):
            codes[vals[k]] = (code, length)
            code += 1
            k += 1
        code <<= 1
    return codes


def jpeg(w, h):
    assert w % 8 == 0 and h % 8 == 0
    q = 16
    dc_bits = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0]  # standard luminance DC table
    dc_vals = list(range(12))
    ac_bits = [0, 2] + [0] * 14  # two 2-bit codes: EOB (0x00) and ZRL (0xF0, unused)
    ac_vals = [0x00, 0xF0]
    dc_codes = huffman_codes(dc_bits, dc_vals)
    eob = huffman_codes(ac_bits, ac_vals)[0x00]

    out = bytearray(b"\xff\xd8")
    out += b"\xff\xe0" + struct.pack(">H", 16) + b"JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    out += b"\xff\xdb" + struct.pack(">H", 67) + b"\x00" + bytes([q] * 64)
    out += b"\xff\xc0" + struct.pack(">HBHHB", 17, 8, h, w, 3)
    for cid in (1, 2, 3):
        out += bytes([cid, 0x11, 0])
    for cls, bits, vals in ((0, dc_bits, dc_vals), (1, ac_bits, ac_vals)):
        out += b"\xff\xc4" + struct.pack(">H", 3 + 16 + len(vals)) + bytes([cls << 4])
        out += bytes(bits) + bytes(vals)
    out += b"\xff\xda" + struct.pack(">HB", 12, 3)
    for cid in (1, 2, 3):
        out += bytes([cid, 0x00])
    out += bytes([0, 63, 0])

    acc, nbits, scan = 0, 0, bytearray()

    def put(code, length):
        nonlocal acc, nbits
        acc = (acc << length) | code
        nbits += length
        while nbits >= 8:
            byte = (acc >> (nbits - 8)) & 0xFF
            scan.append(byte)
            if byte == 0xFF:
                scan.append(0)
            nbits -= 8
        acc &= (1 << nbits) - 1

    pred = [0, 0, 0]
    for by in range(h // 8):
        for bx in range(w // 8):
            r, g, b = (sum(c) / 64 for c in zip(*(pixel(bx * 8 + i, by * 8 + j, w, h)
                                                  for j in range(8) for i in range(8))))
            ycc = (0.299 * r + 0.587 * g + 0.114 * b,
                   128 - 0.168736 * r - 0.331264 * g + 0.5 * b,
                   128 + 0.5 * r - 0.418688 * g - 0.081312 * b)
            for c in range(3):
                dc = round(8 * (ycc[c] - 128) / q)
                diff = dc - pred[c]
                pred[c] = dc
                size = abs(diff).bit_length()
                put(*dc_codes[size])
                if size:
                    put(diff if diff > 0 else diff + (1 << size) - 1, size)
                put(*eob)
    if nbits:
        put((1 << (8 - nbits)) - 1, 8 - nbits)
    out += scan + b"\xff\xd9"
    return bytes(out)


def main():
    files = {
        "logo.png": png(96, 96),
        "photo.jpg": jpeg(128, 96),
        "data.bin": counter_bytes(b"ricochet data", 64 * 1024),
        "probe.bin": counter_bytes(b"ricochet probe", 256 * 1024),
        "release.bin": counter_bytes(b"ricochet release", 8 * 1024),
    }
    for name, data in files.items():
        with open(os.path.join(HERE, name), "wb") as f:
            f.write(data)
        print(f"{name}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()[:16]}")


if __name__ == "__main__":
    main()
