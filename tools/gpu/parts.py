#!/usr/bin/env python3
"""Carry a folder to the GPU machine in parts, across back-to-back device commands.

    parts.py pack SRC OUT --part-bytes N    SRC (a folder) -> OUT/p01, OUT/p02, ... (here)
    parts.py add STAGE PARTDIR...           stage the parts carried; join when all are there

`pack` writes SRC as one tar (sorted, owners and times cleared), compressed with xz
(preset 9; Python's lzma, so that the GPU machine needs nothing beyond Python), cut into
parts of at most N bytes. Each part lies in its own folder `pNN/` with `manifest.json`:
the SHA-256 and size of every part, of the whole archive and of every file in it, so a
device command can carry `OUT/pNN` alone (the device tool's `carry`).

`add` checks each part against its manifest and copies it into STAGE (a folder that
outlives the command while the machine stays warm, e.g. under /tmp). With every part
there it checks the joined archive, unpacks it into STAGE/payload and checks each file.
Exit status: 0 when STAGE/payload is complete and checked, 10 while parts are missing
(it says which), 12 when a part numbered below every part this call carried is missing
(carried in order, the earlier parts were lost: a machine gone cold between calls), 1 on
any error (a part or file that does not match, a manifest from another pack). Standard
library only (Python 3.8+).
"""
import argparse
import hashlib
import io
import json
import lzma
import os
import shutil
import sys
import tarfile

MANIFEST = "manifest.json"
ARCHIVE = "payload.tar.xz"
INCOMPLETE = 10
GAP = 12  # incomplete, and a part is missing below every part carried in this call
CHUNK = 1 << 20


def die(msg):
    print("parts.py: " + msg, file=sys.stderr)
    sys.exit(1)


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(CHUNK), b""):
            h.update(b)
    return h.hexdigest()


def part_name(i):
    return "%s.part%02d" % (ARCHIVE, i)


def pack(src, out, part_bytes, preset):
    if not os.path.isdir(src):
        die("%s is not a folder" % src)
    if part_bytes < 1024:
        die("--part-bytes %d is too small" % part_bytes)
    files = []
    for root, dirs, names in os.walk(src):
        dirs.sort()
        for n in sorted(names):
            p = os.path.join(root, n)
            if os.path.islink(p) or not os.path.isfile(p):
                die("%s is not a plain file (links are not carried)" % p)
            files.append(os.path.relpath(p, src))
    if not files:
        die("%s is empty" % src)
    os.makedirs(out, exist_ok=True)
    archive = os.path.join(out, ARCHIVE + ".tmp")
    members = []
    with lzma.open(archive, "wb", preset=preset) as xz:
        with tarfile.open(fileobj=xz, mode="w|", format=tarfile.PAX_FORMAT) as tar:
            for rel in files:
                p = os.path.join(src, rel)
                ti = tar.gettarinfo(p, arcname=rel)
                ti.uid = ti.gid = 0
                ti.uname = ti.gname = ""
                ti.mtime = 0
                ti.mode = 0o755 if os.access(p, os.X_OK) else 0o644
                with open(p, "rb") as f:
                    tar.addfile(ti, f)
                members.append({"path": rel, "size": ti.size, "sha256": sha256_file(p), "mode": ti.mode})
                print("parts.py: packed %s (%d bytes)" % (rel, ti.size))
    total = os.path.getsize(archive)
    n = (total + part_bytes - 1) // part_bytes
    for d in os.listdir(out):  # parts of an earlier pack
        if d.startswith("p") and d[1:].isdigit():
            shutil.rmtree(os.path.join(out, d))
    parts = []
    with open(archive, "rb") as f:
        for i in range(1, n + 1):
            data = f.read(part_bytes)
            d = os.path.join(out, "p%02d" % i)
            os.makedirs(d)
            with open(os.path.join(d, part_name(i)), "wb") as g:
                g.write(data)
            parts.append({"name": part_name(i), "size": len(data), "sha256": hashlib.sha256(data).hexdigest()})
    manifest = {
        "archive": {"name": ARCHIVE, "size": total, "sha256": sha256_file(archive)},
        "parts": parts,
        "files": members,
    }
    for i in range(1, n + 1):
        with open(os.path.join(out, "p%02d" % i, MANIFEST), "w") as g:
            json.dump(manifest, g, indent=1)
    os.remove(archive)
    raw = sum(m["size"] for m in members)
    print("parts.py: %d files, %d bytes -> %d bytes of xz (%.1f %%) in %d parts of at most %d bytes"
          % (len(members), raw, total, 100.0 * total / raw, n, part_bytes))


def read_manifest(d):
    try:
        with open(os.path.join(d, MANIFEST)) as f:
            m = json.load(f)
        m["archive"]["sha256"], m["parts"][0]["sha256"], m["files"][0]["path"]
        return m
    except (OSError, ValueError, KeyError, IndexError, TypeError) as e:
        die("%s: no readable %s (%s)" % (d, MANIFEST, e))


def add(stage, part_dirs):
    os.makedirs(stage, exist_ok=True)
    staged = os.path.join(stage, "parts")
    os.makedirs(staged, exist_ok=True)
    payload = os.path.join(stage, "payload")
    man = None
    if os.path.exists(os.path.join(staged, MANIFEST)):
        man = read_manifest(staged)
    carried = set()
    for d in part_dirs:
        m = read_manifest(d)
        if man is None:
            tmp = os.path.join(staged, MANIFEST + ".tmp")
            with open(tmp, "w") as g:
                json.dump(m, g)
            os.replace(tmp, os.path.join(staged, MANIFEST))
            man = m
        elif m["archive"]["sha256"] != man["archive"]["sha256"]:
            die("%s belongs to another pack than the parts staged in %s (prepared again since?); "
                "remove %s and carry every part of one pack" % (d, stage, stage))
        names = [p for p in os.listdir(d) if p.startswith(ARCHIVE + ".part")]
        if len(names) != 1:
            die("%s holds %d parts, expected 1" % (d, len(names)))
        want = {p["name"]: p for p in man["parts"]}.get(names[0])
        if want is None:
            die("%s: %s is not in the manifest" % (d, names[0]))
        carried.add(names[0])
        src = os.path.join(d, names[0])
        dst = os.path.join(staged, names[0])
        if os.path.exists(dst) and os.path.getsize(dst) == want["size"] and sha256_file(dst) == want["sha256"]:
            print("parts.py: %s already staged" % names[0])
            continue
        got = sha256_file(src)
        if os.path.getsize(src) != want["size"] or got != want["sha256"]:
            die("%s does not match its manifest (sha256 %s, want %s): damaged in transit?"
                % (src, got, want["sha256"]))
        shutil.copyfile(src, dst + ".tmp")
        os.replace(dst + ".tmp", dst)
        print("parts.py: staged %s (%d bytes)" % (names[0], want["size"]))
    if man is None:
        die("no part given and none staged in %s" % stage)
    n = len(man["parts"])
    have = [p for p in man["parts"] if os.path.exists(os.path.join(staged, p["name"]))]
    if os.path.isdir(payload) and os.path.exists(os.path.join(payload, ".complete")):
        print("parts.py: %s is complete (joined before)" % payload)
        return 0
    if len(have) < n:
        missing = [i + 1 for i, p in enumerate(man["parts"]) if p not in have]
        print("parts.py: %d of %d parts staged in %s; missing: %s"
              % (len(have), n, stage, " ".join(map(str, missing))))
        low = min((i + 1 for i, p in enumerate(man["parts"]) if p["name"] in carried), default=0)
        if missing[0] < low:
            # carried in order, a part missing below this call's means the earlier ones are gone
            print("parts.py: part %d is missing, below part %d carried now: if the parts were "
                  "carried in order, the machine was given back and started afresh since (it "
                  "keeps %s only while warm); carry p%02d next" % (missing[0], low, stage, missing[0]))
            return GAP
        return INCOMPLETE
    join(staged, man, payload)
    return 0


class Joined(io.RawIOBase):
    """The staged parts read as one stream, hashed on the way."""

    def __init__(self, paths):
        self.paths = list(paths)
        self.f = None
        self.h = hashlib.sha256()
        self.n = 0

    def readable(self):
        return True

    def readinto(self, b):
        while True:
            if self.f is None:
                if not self.paths:
                    return 0
                self.f = open(self.paths.pop(0), "rb")
            k = self.f.readinto(b)
            if k:
                self.h.update(memoryview(b)[:k])
                self.n += k
                return k
            self.f.close()
            self.f = None


def join(staged, man, payload):
    tmp = payload + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    os.makedirs(tmp)
    src = Joined(os.path.join(staged, p["name"]) for p in man["parts"])
    want = {m["path"]: m for m in man["files"]}
    seen = set()
    try:
        with lzma.open(io.BufferedReader(src, CHUNK), "rb") as xz:
            with tarfile.open(fileobj=xz, mode="r|") as tar:
                for ti in tar:
                    m = want.get(ti.name)
                    if m is None or not ti.isfile() or os.path.isabs(ti.name) or ".." in ti.name.split("/"):
                        die("the archive holds %r, which the manifest does not list" % ti.name)
                    dst = os.path.join(tmp, ti.name)
                    os.makedirs(os.path.dirname(dst), exist_ok=True)
                    h = hashlib.sha256()
                    f = tar.extractfile(ti)
                    with open(dst, "wb") as g:
                        for b in iter(lambda: f.read(CHUNK), b""):
                            h.update(b)
                            g.write(b)
                    if h.hexdigest() != m["sha256"] or os.path.getsize(dst) != m["size"]:
                        die("%s unpacked does not match the manifest" % ti.name)
                    os.chmod(dst, m["mode"])
                    seen.add(ti.name)
            # the rest of the stream (tar padding, xz index), so that the hash covers it all
            while xz.read(CHUNK):
                pass
    except (lzma.LZMAError, tarfile.TarError, EOFError) as e:
        die("the joined archive does not unpack (%s)" % e)
    if src.n != man["archive"]["size"] or src.h.hexdigest() != man["archive"]["sha256"]:
        die("the joined parts (%d bytes, sha256 %s) are not the archive packed (%d bytes, %s)"
            % (src.n, src.h.hexdigest(), man["archive"]["size"], man["archive"]["sha256"]))
    if seen != set(want):
        die("files missing from the archive: %s" % ", ".join(sorted(set(want) - seen)))
    open(os.path.join(tmp, ".complete"), "w").close()
    shutil.rmtree(payload, ignore_errors=True)
    os.replace(tmp, payload)
    print("parts.py: joined %d parts (%d bytes, sha256 checked) into %s: %d files checked"
          % (len(man["parts"]), src.n, payload, len(seen)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("pack")
    p.add_argument("src")
    p.add_argument("out")
    p.add_argument("--part-bytes", type=int, required=True)
    p.add_argument("--preset", type=int, default=9, choices=range(0, 10))
    a = sub.add_parser("add")
    a.add_argument("stage")
    a.add_argument("parts", nargs="*")
    args = ap.parse_args()
    if args.cmd == "pack":
        pack(args.src, args.out, args.part_bytes, args.preset)
        return 0
    return add(args.stage, args.parts)


if __name__ == "__main__":
    sys.exit(main())
