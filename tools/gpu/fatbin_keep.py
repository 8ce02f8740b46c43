#!/usr/bin/env python3
"""Keep one GPU architecture's machine code in a CUDA library, zeroing the others.

    fatbin_keep.py IN OUT --sm 90

A CUDA library (here onnxruntime-gpu's libonnxruntime_providers_cuda.so, 284 MB) holds
its kernels in fatbins: per kernel file, one compiled ELF image (cubin) for each GPU
architecture it was built for (sm_75, 80, 86, 89, 90, 120), each already compressed by
nvcc, so a general compressor gains little on them. A GPU runs only the cubin of its own
architecture (or PTX, which this build does not carry). This tool overwrites with zeros
the payload of every cubin for another architecture, in each fatbin that also holds one
for `--sm`; headers, sizes and offsets stay as they were, so the file keeps its length
and layout and the driver still finds the `--sm` cubin where it was. A fatbin without a
cubin for `--sm` (or with PTX in it) is left whole. The zeros then compress to nothing.

This is a size trick for carrying the library to one known GPU (the H200, sm_90); the
full library remains the fallback (tools/gpu/prepare_infer.sh ARCH=all).
"""
import argparse
import collections
import os
import struct
import sys

MAGIC = struct.pack("<I", 0xBA55ED50)
KIND_PTX, KIND_ELF = 1, 2


def entries(data, start, size):
    """(offset, header size, payload size, kind, sm) of each entry of the fatbin whose
    entries start at `start` and take `size` bytes; None if they do not tile it."""
    out = []
    p, end = start, start + size
    while p < end:
        if p + 0x20 > end:
            return None
        kind, _ver, hsize, padded = struct.unpack_from("<HHII", data, p)
        sm = struct.unpack_from("<I", data, p + 0x1C)[0]
        if hsize < 0x20 or p + hsize + padded > end:
            return None
        out.append((p, hsize, padded, kind, sm))
        p += hsize + padded
    return out if p == end else None


def slim(data, keep_sm):
    """Zero in place (a bytearray) the other architectures' cubins; returns counts."""
    stats = collections.Counter()
    pos = 0
    while True:
        i = data.find(MAGIC, pos)
        if i < 0:
            break
        ver, hsize, fsize = struct.unpack_from("<HHQ", data, i + 4)
        if ver != 1 or hsize != 16 or i + hsize + fsize > len(data):
            pos = i + 4
            continue
        ents = entries(data, i + hsize, fsize)
        if ents is None:
            stats["fatbins not understood, left whole"] += 1
            pos = i + 4
            continue
        pos = i + hsize + fsize
        stats["fatbins"] += 1
        has_keep = any(k == KIND_ELF and sm == keep_sm for _, _, _, k, sm in ents)
        has_ptx = any(k == KIND_PTX for _, _, _, k, _ in ents)
        if not has_keep or has_ptx:
            stats["fatbins left whole (no sm_%d cubin, or PTX)" % keep_sm] += 1
            continue
        for off, eh, padded, kind, sm in ents:
            if kind == KIND_ELF and sm != keep_sm:
                data[off + eh : off + eh + padded] = bytes(padded)
                stats["cubins zeroed"] += 1
                stats["bytes zeroed"] += padded
            elif kind == KIND_ELF:
                stats["sm_%d cubins kept" % keep_sm] += 1
    return stats


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("input")
    ap.add_argument("output")
    ap.add_argument("--sm", type=int, required=True, help="architecture to keep, e.g. 90 (H100/H200)")
    a = ap.parse_args()
    with open(a.input, "rb") as f:
        data = bytearray(f.read())
    if data[:4] != b"\x7fELF":
        sys.exit("fatbin_keep.py: %s is not an ELF file" % a.input)
    n = len(data)
    stats = slim(data, a.sm)
    if stats["sm_%d cubins kept" % a.sm] == 0:
        sys.exit("fatbin_keep.py: %s holds no sm_%d cubin; nothing would run on that GPU" % (a.input, a.sm))
    assert len(data) == n
    tmp = a.output + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.chmod(tmp, os.stat(a.input).st_mode & 0o777)
    os.replace(tmp, a.output)
    for k in sorted(stats):
        print("fatbin_keep.py: %s: %d" % (k, stats[k]))
    print("fatbin_keep.py: %.1f of %.1f MB zeroed" % (stats["bytes zeroed"] / 1e6, n / 1e6))


if __name__ == "__main__":
    main()
