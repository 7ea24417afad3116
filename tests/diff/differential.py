#!/usr/bin/env python3
"""Differential test: the built `sifstore` against the reference store module.

Random stores (seeded) are written twice, at the same absolute path: once for
the reference (`scitex_store.py`, called in-process) and once for `sifstore`
(run as a command with --json). The same sequence of operations -- list,
prune, point-latest, mark-verified, mark-unverified, protect -- runs on both,
and after every step the results and the whole tree on disk must be equal:

  list         the JSON objects, key by key (paths spelled from the same root
               string, which is itself drawn from several spellings)
  prune        the pruned <ts> values (newest first) and the files left
  point-latest success/failure and the pointer's target text
  markers      presence and exclusivity; the unverified marker's reason
  disk         every name, kind, symlink target and file content (marker
               bodies with their time replaced), ignoring only SifStore's own
               hidden files (.sifstore-lock, .sifstore-timebase)

The stores hold what makes the two tools disagree when one is careless: layer
names that prefix each other (base, base-dev, base-2026), builds without lock
or def, both markers at once, decoys (wrong suffixes, `.sif.tmp`, hidden
files, `<layer>-<bad ts>.sif`, other layers' names), and relative, absolute,
dangling, odd and missing pointers.

Where SifStore deliberately differs (docs/DESIGN.md#store-compat and the notes
in core/store.h),
the case is not compared exactly; the documented difference is asserted:

  pinned builds   prune keeps a build that another layer's locked def names
                  in its `From:` header. The reference side gets a temporary
                  `.keep` on exactly those builds, so its result is the one
                  SifStore must produce.
  symlinked layer SifStore refuses a layer directory that is a symlink
                  (exit 1, "symlink"); the reference follows it.
  image required  point-latest, mark-* and protect refuse a build whose image
                  is not a regular file (missing, a symlink, a directory);
                  the reference marks a missing build and points through a
                  symlink.
  timestamps      SifStore refuses a TS argument that is not a calendar time
                  (month 13, hour 25); the reference accepts any \\d shape.
  not images      a directory named `<layer>-<ts>.sif` is no build for
                  SifStore (core/store.cpp); the reference globs names and
                  lists, counts and "prunes" it (without removing it). Nor is
                  a <ts> written with non-ASCII digits (Python's \\d matches
                  them). The reference side runs with those moved aside.
  layer file      a layer path that is a file, not a directory, is an error
                  for list and prune ("not a directory"); the reference
                  reports no builds.
  stable pointers point-latest moves `<layer>.lock` and `<layer>.def` with
                  `<layer>.sif` (symlinks to the build's lock and locked
                  def); the reference has `<layer>.sif` only. After every
                  SifStore step each of them must name the companion of the
                  build `<layer>.sif` names, and after a point-latest both
                  must be there; then they are left out of the comparison.

Then the two tools use each other's stores: the reference writes a store
(its artifact paths, point_latest, markers, protect, prune) that sifstore
lists, stamps into, points, marks and prunes; sifstore writes a store (stamp,
artifacts, point-latest, rollback, markers, protect/unprotect, prune) that the
reference lists and prunes.

Exit status: 0 pass, 1 a difference (each one printed with its seed and the
steps to reproduce), 77 skipped (the reference is not available).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import json
import os
import random
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

SKIP = 77

# Layer names that prefix each other, and ones with '.' and '_'.
FAMILY = ["base", "base-dev", "base-2026", "base.x", "app", "app_1"]
# SifStore's own hidden files, which the reference never sees.
OWN_HIDDEN = {".sifstore-lock", ".sifstore-timebase"}
MARKER_TIME = re.compile(r" at \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\n")
SUFFIXES = [".sif", ".lock", ".def", ".verified", ".unverified", ".keep", ".build.log"]
ROOT_SPELLINGS = ["{ABS}/store", "store", "{ABS}/store", "store", "./store", "store/",
                  "store//", "./store/.", "sub/../store", "{ABS}//store/"]

ref = None  # the reference module, imported in main()


class Mismatch(Exception):
    pass


# ---------------------------------------------------------------------------
# Random stores. A store is described as a list of entries relative to the
# case directory -- ("file", path, content), ("link", path, target),
# ("dir", path) -- and written by materialize(); "{ABS}" in a link target is
# the case directory's absolute path.


def rand_ts(rng: random.Random) -> str:
    return "%04d-%02d%02d-%02d%02d%02d" % (
        rng.choice([2024, 2025, 2026, 2026, 2027]), rng.randint(1, 12), rng.randint(1, 28),
        rng.randint(0, 23), rng.randint(0, 59), rng.randint(0, 59))


def bad_date_ts(rng: random.Random) -> str:
    # The \d{4}-\d{4}-\d{6} shape, but not a calendar time.
    return "%04d-%02d%02d-%02d%02d%02d" % (
        rng.randint(1000, 9999), rng.randint(13, 99), rng.randint(0, 99),
        rng.randint(24, 99), rng.randint(0, 99), rng.randint(0, 99))


def decoy_names(rng: random.Random, layer: str, ts: str) -> list[str]:
    other = rng.choice([l for l in FAMILY if l != layer])
    return [
        f"{layer}-{ts}.sif.tmp", f".{layer}-{ts}.sif.tmp", f".{layer}-{ts}.sif",
        f"{layer}-{ts}.sif.bak", f"{layer}-{ts}.SIF", f"{layer}-{ts}.sif~", f"{layer}-{ts}.lock.sif",
        f"{layer}-{ts[:-1]}.sif", f"{layer}-{ts}0.sif", f"{layer}-{ts.replace('-', '')}.sif",
        f"{layer}-{ts[:4]}-{ts[5:7]}-{ts[7:9]}.sif", f"{layer}-abcd-0101-000000.sif",
        f"{layer}--{ts}.sif", f"{layer}_{ts}.sif", f"{layer}{ts}.sif", f"{layer}-{ts}-1.sif",
        f"{other}-{ts}.sif", f"{other}-{ts}.lock", f"{layer}-dev-{ts}.sif",
        f"{layer}-{ts}.sif.lock", f"{layer}-{ts}", f"{layer}.sif", f"x{layer}-{ts}.sif",
        f".{layer}-{ts}.reserved", f"{layer}-{ts}.build.log.1", f"{layer}-{ts}.verified.old",
    ]


def gen_def(rng: random.Random, layers: dict, layer: str) -> str:
    """A locked def; sometimes its header pins a build of another layer."""
    if rng.random() < 0.5:
        return ""
    others = [l for l, info in layers.items() if l != layer and info["builds"]]
    lines = ["Bootstrap: localimage"]
    if others and rng.random() < 0.8:
        base = rng.choice(others)
        ts = rng.choice(layers[base]["builds"])
        form = rng.choice(["{ABS}/store/%s/%s-%s.sif", "%s/%s-%s.sif", "../%s/%s-%s.sif",
                           "containers/%s/%s-%s.sif"]) % (base, base, ts)
        key = rng.choice(["From:", "From:", "from:", "FROM:", "From:  "])
        line = f"{key} {form}"
        if rng.random() < 0.15:
            lines.append("%post")  # a From: after the first section is no header
        lines.append(line)
    else:
        lines.append("From: debian:12")
    lines += ["", "%post", "    pip install numpy==1.26.4"]
    return "\n".join(lines) + "\n"


def gen_store(rng: random.Random, odd: bool) -> tuple[list, dict]:
    entries: list = [("dir", "store"), ("dir", "elsewhere"), ("dir", "sub")]
    chosen = rng.sample(FAMILY, rng.randint(1, 4))
    if "base" not in chosen and rng.random() < 0.7:
        chosen.append("base")
    layers: dict = {}
    for layer in chosen:
        kind = "dir"
        if odd:
            kind = rng.choice(["dir"] * 6 + ["missing", "symlink", "file"])
        n = rng.choice([0, 1, 2, 3, 4, 5, 8, 12, 15])
        builds = sorted({rand_ts(rng) for _ in range(n)})
        if odd and rng.random() < 0.3:
            builds.append(bad_date_ts(rng))
        layers[layer] = {"kind": kind, "builds": builds, "orphans": [rand_ts(rng) for _ in
                                                                     range(rng.randint(0, 2))]}
    for layer, info in layers.items():
        d = f"store/{layer}"
        if info["kind"] == "missing":
            info["builds"] = []
        elif info["kind"] == "file":
            entries.append(("file", d, "not a directory\n"))
            info["builds"] = []
        else:
            if info["kind"] == "symlink":
                entries.append(("dir", f"elsewhere/{layer}-real"))
                entries.append(("link", d, rng.choice([f"../elsewhere/{layer}-real",
                                                       f"{{ABS}}/elsewhere/{layer}-real"])))
                d = f"elsewhere/{layer}-real"
            else:
                entries.append(("dir", d))
            for ts in info["builds"]:
                sif_kind = "file"
                if odd:
                    sif_kind = rng.choice(["file"] * 6 + ["link", "dangling", "dir"])
                name = f"{d}/{layer}-{ts}"
                if sif_kind == "file":
                    entries.append(("file", name + ".sif", f"SIF {layer} {ts}\n"))
                elif sif_kind == "link":
                    entries.append(("file", f"elsewhere/img-{layer}-{ts}", "image\n"))
                    entries.append(("link", name + ".sif", rng.choice(
                        [f"{{ABS}}/elsewhere/img-{layer}-{ts}",
                         f"../../elsewhere/img-{layer}-{ts}"])))
                elif sif_kind == "dangling":
                    entries.append(("link", name + ".sif", "../nowhere.sif"))
                else:
                    entries.append(("dir", name + ".sif"))
                if rng.random() < 0.85:
                    entries.append(("file", name + ".lock", f"[pip]\nnumpy==1.{ts[-2:]}\n"))
                if rng.random() < 0.85:
                    entries.append(("file", name + ".def", gen_def(rng, layers, layer)))
                m = rng.random()
                if m < 0.25:
                    entries.append(("file", name + ".verified", "round-trip verified\n"))
                elif m < 0.45:
                    entries.append(("file", name + ".unverified", "drift: numpy\n"))
                elif m < 0.55:
                    entries.append(("file", name + ".verified", "ok\n"))
                    entries.append(("file", name + ".unverified", "bad\n"))
                if rng.random() < 0.15:
                    entries.append(("file", name + ".keep", "prune-protected\n"))
                if rng.random() < 0.5:
                    entries.append(("file", name + ".build.log", "log\n"))
                if odd and rng.random() < 0.1:
                    sfx = rng.choice([".lock", ".def", ".verified", ".keep"])
                    if not any(e[1] == name + sfx for e in entries):
                        entries.append(rng.choice([("link", name + sfx, "../nowhere"),
                                                   ("dir", name + sfx)]))
            for ts in info["orphans"]:
                for sfx in rng.sample(SUFFIXES[1:], rng.randint(1, 3)):
                    entries.append(("file", f"{d}/{layer}-{ts}{sfx}", "orphan\n"))
            for _ in range(rng.randint(0, 6)):
                ts = rng.choice(info["builds"]) if info["builds"] and rng.random() < 0.6 \
                    else rand_ts(rng)
                nm = rng.choice(decoy_names(rng, layer, ts))
                path = f"{d}/{nm}"
                if not any(e[1] == path for e in entries):
                    entries.append(("file", path, "decoy\n"))
            if odd and rng.random() < 0.2:
                # A build whose digits are not ASCII (\d matches them in Python).
                entries.append(("file", f"{d}/{layer}-\u0662\u0660\u0662\u0666-0101-000000.sif",
                                "decoy\n"))
            if rng.random() < 0.3:
                entries.append(("file", f"{d}/.sifstore-lock", ""))
        # The latest pointer.
        builds = info["builds"]
        some = rng.choice(builds) if builds else rand_ts(rng)
        other = rng.choice([l for l in FAMILY if l != layer])
        choice = rng.random()
        ptr = f"store/{layer}.sif"
        if choice < 0.15:
            pass
        elif choice < 0.6:
            entries.append(("link", ptr, f"{layer}/{layer}-{some}.sif"))
        else:
            target = rng.choice([
                f"{layer}/{layer}-{rand_ts(rng)}.sif",           # dangling
                f"{{ABS}}/store/{layer}/{layer}-{some}.sif",    # absolute
                f"./{layer}/{layer}-{some}.sif",
                f"{layer}//{layer}-{some}.sif",
                f"../store/{layer}/{layer}-{some}.sif",
                f"{layer}/{layer}-{some}.sif/",
                f"{layer}-{some}.sif",
                f"elsewhere/{layer}-{some}.sif",
                f"{other}/{other}-{some}.sif",
                f"{layer}/{other}-{some}.sif",
                f"{layer}/{layer}-{some}.lock",
                f"{layer}/{layer}-{some}.sif.tmp",
                f"{layer}/.{layer}-{some}.sif",
                f"{layer}/{layer}-{some[:-1]}.sif",
                "",  # a regular file instead of a symlink
            ])
            if target == "":
                entries.append(("file", ptr, "not a symlink\n"))
            else:
                entries.append(("link", ptr, target))
        if rng.random() < 0.2:
            entries.append(("file", f"store/.{layer}.sif.tmp.{rand_ts(rng)}", "x\n"))
    if rng.random() < 0.1:
        entries.append(("file", "store/config.yaml", "images:\n  retain: 2\n"))
    return entries, layers


def materialize(entries: list, case_dir: Path) -> None:
    if case_dir.exists():
        force_rmtree(case_dir)
    _CONTENT.clear()
    case_dir.mkdir(parents=True)
    for e in entries:
        p = case_dir / e[1]
        p.parent.mkdir(parents=True, exist_ok=True)
        if e[0] == "dir":
            p.mkdir(exist_ok=True)
        elif e[0] == "file":
            p.write_text(e[2])
        else:
            os.symlink(e[2].replace("{ABS}", str(case_dir)), p)


def force_rmtree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


_CONTENT: dict = {}  # path -> ((inode, mtime, size), normalised content)


def snapshot(case_dir: Path) -> dict:
    """Every entry under the case directory: kind, symlink target, content."""
    tree = {}
    base = str(case_dir)
    stack = [base]
    while stack:
        d = stack.pop()
        with os.scandir(d) as it:
            for e in it:
                if e.name in OWN_HIDDEN:
                    continue
                rel = e.path[len(base) + 1:]
                if e.is_symlink():
                    tree[rel] = ("link", os.readlink(e.path).replace(base, "{ABS}"))
                elif e.is_dir():
                    tree[rel] = ("dir",)
                    stack.append(e.path)
                else:
                    st = e.stat()
                    key = (st.st_ino, st.st_mtime_ns, st.st_size)
                    cached = _CONTENT.get(e.path)
                    if not cached or cached[0] != key:
                        with open(e.path, "r", errors="replace") as f:
                            cached = (key, MARKER_TIME.sub(" at <T>\n", f.read()))
                        _CONTENT[e.path] = cached
                    tree[rel] = ("file", cached[1])
    return tree


def tree_diff(a: dict, b: dict) -> str:
    lines = []
    for k in sorted(set(a) | set(b)):
        if a.get(k) != b.get(k):
            lines.append(f"    {k}: reference={a.get(k)!r} sifstore={b.get(k)!r}")
    return "\n".join(lines)


STABLE = re.compile(r"store/([^/]+)\.(lock|def)")
POINTER = re.compile(r"(.+)/(.+)-([0-9]{4}-[0-9]{4}-[0-9]{6})\.sif")


def without_stable_pointers(tree: dict, where: str) -> dict:
    """The tree without SifStore's stable pointers `store/<layer>.lock` and
    `store/<layer>.def`, each checked against `store/<layer>.sif`."""
    out = {}
    for rel, v in tree.items():
        m = STABLE.fullmatch(rel)
        if m and v[0] == "link":
            layer, sfx = m.groups()
            sif = tree.get(f"store/{layer}.sif", ("none",))
            p = POINTER.fullmatch(sif[1]) if sif[0] == "link" else None
            want = None
            if p and p.group(1) == layer and p.group(2) == layer:
                want = f"{layer}/{layer}-{p.group(3)}.{sfx}"
            if v[1] != want:
                raise Mismatch(f"{where}\n  {rel} -> {v[1]!r} disagrees with "
                               f"store/{layer}.sif {sif!r} (expected -> {want!r})")
            continue
        out[rel] = v
    return out


# ---------------------------------------------------------------------------
# What SifStore does on purpose differently, read from the disk before a step.


def layer_is_symlink(case_dir: Path, layer: str) -> bool:
    return (case_dir / "store" / layer).is_symlink()


def pins(case_dir: Path, layer: str) -> set[str]:
    """Builds of `layer` that another layer's locked def names in `From:`.

    Per core/store.cpp: every real (not symlinked) layer directory of the root
    but `layer`; each of its builds (a non-directory `<l>-<ts>.sif`) whose def
    is a regular file; the def's header lines (until the first line starting
    with '%'), `from:` in any case, the value read as a pointer target.
    """
    root = case_dir / "store"
    out = set()
    for d in root.iterdir():
        if d.name == layer or d.is_symlink() or not d.is_dir():
            continue
        if not re.fullmatch(r"[A-Za-z0-9._-]{1,128}", d.name) or d.name[0] in ".-":
            continue
        for sif in d.iterdir():
            m = re.fullmatch(re.escape(d.name) + r"-([0-9]{4}-[0-9]{4}-[0-9]{6})\.sif", sif.name)
            if not m or (sif.is_dir() and not sif.is_symlink()):
                continue
            dfile = d / f"{d.name}-{m.group(1)}.def"
            if dfile.is_symlink() or not dfile.is_file():
                continue
            for line in dfile.read_text().split("\n"):
                line = line.strip(" \t\r")
                if line.startswith("%"):
                    break
                if line[:5].lower() != "from:":
                    continue
                ts = ts_from_target(layer, line[5:].strip(" \t\r"))
                if ts:
                    out.add(ts)
                    break
    return out


def ts_from_target(layer: str, target: str) -> str | None:
    ts_re = r"([0-9]{4}-[0-9]{4}-[0-9]{6})"
    m = re.fullmatch(re.escape(layer) + "/" + re.escape(layer) + "-" + ts_re + r"\.sif", target)
    if m:
        return m.group(1)
    last = target.rstrip("/").rsplit("/", 1)[-1]
    m = re.fullmatch(re.escape(layer) + "-" + ts_re + r"\.sif", last)
    return m.group(1) if m else None


def expected_refusal(case_dir: Path, op: tuple) -> str | None:
    """Why SifStore must refuse this step where the reference goes ahead."""
    kind, layer = op[0], op[1]
    if kind in ("point", "mark-verified", "mark-unverified", "protect"):
        # SifStore checks its arguments before it looks at the store.
        if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])-([01]\d|2[0-3])"
                            r"[0-5]\d([0-5]\d|60)", op[2], re.ASCII):
            return "invalid timestamp"
    if layer_is_symlink(case_dir, layer):
        return "symlink"
    path = case_dir / "store" / layer
    if kind in ("list", "prune", "prune-config") and path.exists() and not path.is_dir():
        return "not a directory"
    if kind in ("point", "mark-verified", "mark-unverified", "protect"):
        ts = op[2]
        sif = case_dir / "store" / layer / f"{layer}-{ts}.sif"
        regular = sif.is_file() and not sif.is_symlink()
        if kind == "point":
            if sif.exists() and not regular:  # the reference points through it
                return "not a regular file"
        elif not regular and (case_dir / "store" / layer).is_dir():
            return "not found" if not os.path.lexists(sif) else "not a regular file"
    return None


# ---------------------------------------------------------------------------
# The two sides.


def gen_ops(rng: random.Random, layers: dict) -> list[tuple]:
    names = list(layers)
    ops = [("list", l) for l in names] + [("list", rng.choice(FAMILY))]
    for _ in range(rng.randint(2, 5)):
        layer = rng.choice(names) if rng.random() < 0.9 else rng.choice(FAMILY)
        info = layers.get(layer, {"builds": [], "orphans": []})
        r = rng.random()
        if r < 0.35:
            ops.append(("prune", layer, rng.choice([0, 1, 1, 2, 3, 5, 10, 100])))
        elif r < 0.4:
            ops.append(("prune-config", layer, 2))
        else:
            pick = rng.random()
            if info["builds"] and pick < 0.75:
                ts = rng.choice(info["builds"])
            elif info["orphans"] and pick < 0.85:
                ts = rng.choice(info["orphans"])
            else:
                ts = rand_ts(rng)
            kind = rng.choice(["point", "point", "mark-verified", "mark-unverified", "protect"])
            reason = rng.choice(["", "numpy 1.26.4 -> 1.26.5", "two\nlines\n\n", "-x drift",
                                 "unicode \u00e9\u4e2d", "  spaced  "])
            ops.append((kind, layer, ts, reason))
        ops.append(("list", layer))
    return ops


def not_images(case_dir: Path) -> list[Path]:
    """What the reference takes for an image and SifStore does not: directories
    named like an image, and names whose <ts> has non-ASCII digits."""
    out = []
    for d in (case_dir / "store").iterdir():
        if d.is_dir():
            for p in d.iterdir():
                if not p.name.endswith(".sif") or not p.name.startswith(d.name + "-"):
                    continue
                if (p.is_dir() and not p.is_symlink()) or not p.name.isascii():
                    out.append(p)
    return out


def ref_step(case_dir: Path, root: str, op: tuple):
    # Directories named like an image: out of the reference's sight.
    moved = []
    for i, p in enumerate(not_images(case_dir)):
        aside = case_dir / "elsewhere" / f".aside-{i}"
        p.rename(aside)
        moved.append((aside, p))
    try:
        return ref_step_plain(case_dir, root, op)
    finally:
        for aside, p in moved:
            aside.rename(p)


@contextlib.contextmanager
def pinned_kept(case_dir: Path, root, layer: str):
    """Gives each build of `layer` that SifStore keeps because another layer's
    locked def pins it a temporary `.keep` (what is there already, such as
    a dangling symlink, is moved aside meanwhile), so that the reference's
    prune decides as SifStore's must. Yields how many were added."""
    added = []
    listed = {b["ts"]: b for b in ref.list_builds(root, layer)}
    try:
        for ts in sorted(pins(case_dir, layer)):
            if ts in listed and not listed[ts]["keep"]:
                k = case_dir / "store" / layer / f"{layer}-{ts}.keep"
                aside = None
                if os.path.lexists(k):
                    aside = k.with_name(k.name + ".aside")
                    k.rename(aside)
                k.write_text("")
                added.append((k, aside))
        yield len(added)
    finally:
        for k, aside in added:
            k.unlink()
            if aside:
                aside.rename(k)


def ref_step_plain(case_dir: Path, root: str, op: tuple):
    kind, layer = op[0], op[1]
    try:
        if kind == "list":
            return ("ok", ref.list_builds(root, layer))
        if kind in ("prune", "prune-config"):
            retain = op[2]
            if kind == "prune-config":
                if not (case_dir / "store" / "config.yaml").exists():
                    retain = 10
            with pinned_kept(case_dir, root, layer) as n:
                pruned = ref.prune(root, layer, retain)
            return ("ok", pruned, n)
        if kind == "point":
            ref.point_latest(root, layer, op[2])
            return ("ok",)
        if kind == "mark-verified":
            ref.mark_verified(root, layer, op[2])
            return ("ok",)
        if kind == "mark-unverified":
            ref.mark_unverified(root, layer, op[2], op[3])
            return ("ok",)
        if kind == "protect":
            ref.protect(root, layer, op[2])
            return ("ok",)
    except Exception as exc:  # the reference signals failure by raising
        return ("error", type(exc).__name__)
    raise AssertionError(kind)


def sifstore_cmd(op: tuple) -> list[str]:
    kind, layer = op[0], op[1]
    if kind == "list":
        return ["list", layer, "--json"]
    if kind == "prune":
        return ["prune", layer, "--retain", str(op[2]), "--json"]
    if kind == "prune-config":
        return ["prune", layer, "--json"]
    if kind == "point":
        return ["point-latest", layer, op[2]]
    if kind == "mark-unverified":
        return ["mark-unverified", layer, op[2], "--reason", op[3]]
    return [kind, layer, op[2]]


def run_sifstore(exe: str, root: str, args: list[str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([exe, "--root", root] + args, cwd=cwd, capture_output=True, text=True,
                          timeout=60)


def sif_step(exe: str, case_dir: Path, root: str, op: tuple):
    p = run_sifstore(exe, root, sifstore_cmd(op), case_dir)
    # A refusal: the operation failed (1) or a word of the command line
    # cannot name anything (2, a usage error: an invalid timestamp, say).
    if p.returncode in (1, 2) and p.stderr.startswith("sifstore: error:"):
        return ("error", p.stderr.strip())
    if p.returncode != 0:
        return ("exit", p.returncode, p.stderr.strip())
    if op[0] == "list":
        return ("ok", json.loads(p.stdout))
    if op[0] in ("prune", "prune-config"):
        return ("ok", json.loads(p.stdout)["pruned"])
    return ("ok",)


STATS = {"cases": 0, "steps": 0, "stable_pointers": 0, "compared": 0, "refusals": {}, "outcomes": {}, "pins_applied": 0,
         "pruned_builds": 0, "listed_builds": 0}


def run_case(exe: str, work: Path, seed: int, odd: bool) -> None:
    rng = random.Random(seed)
    entries, layers = gen_store(rng, odd)
    ops = gen_ops(rng, layers)
    root_tmpl = rng.choice(ROOT_SPELLINGS)
    case_dir = work / "case"
    root = root_tmpl.replace("{ABS}", str(case_dir))

    # Reference side: results and trees, step by step.
    materialize(entries, case_dir)
    ref_results, ref_trees, refusals = [], [], []
    old_cwd = os.getcwd()
    os.chdir(case_dir)
    try:
        for op in ops:
            why = expected_refusal(case_dir, op)
            refusals.append(why)
            ref_results.append(("refused", why) if why else ref_step(case_dir, root, op))
            ref_trees.append(snapshot(case_dir))
    finally:
        os.chdir(old_cwd)

    # SifStore side, on the same store at the same path.
    materialize(entries, case_dir)
    after = snapshot(case_dir)
    for i, op in enumerate(ops):
        before = after
        got = sif_step(exe, case_dir, root, op)
        want = ref_results[i]
        STATS["steps"] += 1
        where = (f"seed {seed} (odd={odd}) root {root_tmpl!r} step {i} {op!r}\n"
                 f"  steps: {ops[:i + 1]!r}")
        raw = snapshot(case_dir)
        after = without_stable_pointers(raw, where)
        if op[0] == "point" and got[0] == "ok":
            for sfx in ("lock", "def"):
                if raw.get(f"store/{op[1]}.{sfx}", ("none",))[0] != "link":
                    raise Mismatch(f"{where}\n  point-latest left no store/{op[1]}.{sfx}")
            STATS["stable_pointers"] += 1
        if want[0] == "refused":
            STATS["refusals"][want[1]] = STATS["refusals"].get(want[1], 0) + 1
            if got[0] != "error" or want[1] not in got[1]:
                raise Mismatch(f"{where}\n  SifStore must refuse ({want[1]}), got {got!r}")
            if before != after:
                raise Mismatch(f"{where}\n  a refused step changed the store:\n"
                               f"{tree_diff(before, after)}")
            # Keep comparing: the reference skipped the step as well.
        else:
            STATS["compared"] += 1
            if want[0] == "error" or got[0] != "ok":
                same = want[0] == got[0] == "error"
            else:
                same = want[1] == got[1] if len(want) > 1 else True
            if not same:
                raise Mismatch(f"{where}\n  reference: {want!r}\n  sifstore:  {got!r}")
            key = f"{op[0]}:{got[0]}"
            STATS["outcomes"][key] = STATS["outcomes"].get(key, 0) + 1
            if op[0] == "list" and got[0] == "ok":
                STATS["listed_builds"] += len(got[1])
            if op[0].startswith("prune") and got[0] == "ok":
                STATS["pruned_builds"] += len(got[1])
                STATS["pins_applied"] += want[2]
        if after != ref_trees[i]:
            raise Mismatch(f"{where}\n  the stores differ after this step:\n"
                           f"{tree_diff(ref_trees[i], after)}")
    STATS["cases"] += 1


# ---------------------------------------------------------------------------
# Each tool on the other's store.


def sif_json(exe: str, root: Path, args: list[str]):
    p = run_sifstore(exe, str(root), args, root.parent)
    if p.returncode != 0:
        raise Mismatch(f"sifstore {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return json.loads(p.stdout) if "--json" in args else p.stdout


def expect_equal(what: str, want, got) -> None:
    if want != got:
        raise Mismatch(f"{what}:\n  reference: {want!r}\n  sifstore:  {got!r}")


def write_build(root: Path, layer: str, ts: str, base: tuple | None, rng: random.Random) -> None:
    """The artifacts of a build, in the order the build chain publishes them."""
    ap = ref.artifact_paths(root, layer, ts)
    ap.layer_dir.mkdir(parents=True, exist_ok=True)
    if rng.random() < 0.7:
        ap.build_log.write_text("building\n")
    ap.lock.write_text(f"[pip]\nnumpy==1.{rng.randint(0, 99)}\n")
    frm = f"{root}/{base[0]}/{base[0]}-{base[1]}.sif" if base else "debian:12"
    ap.locked_def.write_text(f"Bootstrap: localimage\nFrom: {frm}\n\n%post\n    true\n")
    ap.sif.write_text("SIF\n")


def reference_writes(exe: str, work: Path, seed: int) -> None:
    """The reference builds a store; sifstore reads, extends and prunes it."""
    rng = random.Random(seed)
    case = work / "xref"
    force_rmtree(case)
    root = case / "store"
    root.mkdir(parents=True)
    t = time.mktime((rng.randint(2024, 2030), 1, 1, 0, 0, 0, 0, 0, -1))
    built: dict[str, list[str]] = {"base": [], "base-dev": []}
    for _ in range(rng.randint(3, 14)):
        layer = rng.choice(["base", "base", "base-dev"])
        t += rng.choice([1, 1, 2, 60, 3600, 86400])
        ts = time.strftime("%Y-%m%d-%H%M%S", time.localtime(t))
        base = ("base", built["base"][-1]) if layer == "base-dev" and built["base"] else None
        write_build(root, layer, ts, base, rng)
        built[layer].append(ts)
        ref.point_latest(root, layer, ts)
        r = rng.random()
        if r < 0.3:
            ref.mark_verified(root, layer, ts)
        elif r < 0.5:
            ref.mark_unverified(root, layer, ts, "drift: numpy")
        if rng.random() < 0.15:
            ref.protect(root, layer, rng.choice(built[layer]))
        if rng.random() < 0.2:
            ref.prune(root, layer, rng.randint(1, 4))
            built[layer] = [b["ts"] for b in ref.list_builds(root, layer)][::-1]
        if rng.random() < 0.15 and len(built[layer]) > 1:
            ref.point_latest(root, layer, rng.choice(built[layer]))

    for layer in built:
        expect_equal(f"seed {seed}: list {layer} of a reference store",
                     ref.list_builds(str(root), layer), sif_json(exe, root, ["list", layer, "--json"]))
    layers = {l["layer"]: l for l in sif_json(exe, root, ["layers", "--json"])}
    for layer in built:
        listed = ref.list_builds(root, layer)
        active = [b["ts"] for b in listed if b["active"]]
        if listed or active:
            expect_equal(f"seed {seed}: layers {layer}",
                         (len(listed), active[0] if active else None),
                         (layers[layer]["builds"], layers[layer]["active"]))

    # sifstore stamps into the reference's store: newer than every build, and
    # the store keeps the reference's local time base.
    layer = "base"
    newest = max((b["ts"] for b in ref.list_builds(root, layer)), default="")
    ts = sif_json(exe, root, ["stamp", layer]).strip()
    if not ts > newest:
        raise Mismatch(f"seed {seed}: stamp {ts} is not newer than {newest}")
    expect_equal(f"seed {seed}: time base of a reference store", "local\n",
                 (root / ".sifstore-timebase").read_text())
    write_build(root, layer, ts, None, rng)
    (root / layer / f".{layer}-{ts}.reserved").unlink()
    sif_json(exe, root, ["point-latest", layer, ts])
    sif_json(exe, root, ["mark-unverified", layer, ts, "--reason", "drift: pip"])
    expect_equal(f"seed {seed}: reference lists a build sifstore added",
                 sif_json(exe, root, ["list", layer, "--json"]), ref.list_builds(str(root), layer))
    if "drift: pip\n" not in (root / layer / f"{layer}-{ts}.unverified").read_text():
        raise Mismatch(f"seed {seed}: the unverified marker lost its reason")

    # The reference moves only `<layer>.sif`: fsck finds the stable pointers
    # left on the build sifstore pointed at, and --repair realigns them.
    older = [b["ts"] for b in ref.list_builds(root, layer) if b["ts"] != ts]
    if older:
        ref.point_latest(root, layer, older[0])
        p = run_sifstore(exe, str(root), ["fsck", "--json"], case)
        found = sorted(f["path"] for f in json.loads(p.stdout)["findings"]
                       if "stable pointer names" in f["problem"])
        expect_equal(f"seed {seed}: fsck after the reference moved only {layer}.sif",
                     (1, [f"{root}/{layer}.def", f"{root}/{layer}.lock"]), (p.returncode, found))
        run_sifstore(exe, str(root), ["fsck", "--repair"], case)
        for sfx in ("lock", "def"):
            expect_equal(f"seed {seed}: {layer}.{sfx} after fsck --repair",
                         f"{layer}/{layer}-{older[0]}.{sfx}", os.readlink(root / f"{layer}.{sfx}"))
        STATS["stable_pointers"] += 1

    # Prune: sifstore's plan equals the reference's result (pins aside).
    for layer in built:
        retain = rng.randint(0, 3)
        plan = sif_json(exe, root, ["prune", layer, "--retain", str(retain), "--dry-run",
                                    "--json"])["pruned"]
        twin = work / "xref-twin"
        force_rmtree(twin)
        shutil.copytree(case, twin, symlinks=True)
        with pinned_kept(case, root, layer):
            got = ref.prune(root, layer, retain)
        expect_equal(f"seed {seed}: prune {layer} --retain {retain} (dry run vs reference)",
                     got, plan)
        twin_got = sif_json(exe, twin / "store", ["prune", layer, "--retain", str(retain),
                                                  "--json"])["pruned"]
        expect_equal(f"seed {seed}: prune {layer} --retain {retain}", got, twin_got)
        a, b = snapshot(case), snapshot(twin)
        if a != b:
            raise Mismatch(f"seed {seed}: files after prune {layer} differ:\n{tree_diff(a, b)}")


def sifstore_writes(exe: str, work: Path, seed: int) -> None:
    """sifstore builds a store; the reference reads and prunes it."""
    rng = random.Random(seed)
    case = work / "xsif"
    force_rmtree(case)
    case.mkdir(parents=True)
    root = case / "store"
    built: dict[str, list[str]] = {"base": [], "base-dev": [], "base-2026": []}
    for _ in range(rng.randint(3, 14)):
        layer = rng.choice(list(built))
        ts = sif_json(exe, root, ["stamp", layer]).strip()
        if built[layer] and not ts > built[layer][-1]:
            raise Mismatch(f"seed {seed}: stamp {ts} not newer than {built[layer][-1]}")
        base = ("base", built["base"][-1]) if layer != "base" and built["base"] else None
        write_build(root, layer, ts, base, rng)
        (root / layer / f".{layer}-{ts}.reserved").unlink()
        built[layer].append(ts)
        sif_json(exe, root, ["point-latest", layer, ts])
        r = rng.random()
        if r < 0.3:
            sif_json(exe, root, ["mark-verified", layer, ts])
        elif r < 0.5:
            sif_json(exe, root, ["mark-unverified", layer, ts, "--reason", "drift"])
        if rng.random() < 0.2:
            sif_json(exe, root, ["protect", layer, rng.choice(built[layer])])
        if rng.random() < 0.1:
            sif_json(exe, root, ["unprotect", layer, rng.choice(built[layer])])
        if rng.random() < 0.15 and len(built[layer]) > 1:
            p = run_sifstore(exe, str(root), ["rollback", layer], case)
            # Rolling back from the oldest build fails, cleanly.
            if p.returncode != 0 and not (p.returncode == 1 and "no build older" in p.stderr):
                raise Mismatch(f"seed {seed}: rollback {layer} failed: {p.stderr}")
        if rng.random() < 0.2:
            sif_json(exe, root, ["prune", layer, "--retain", str(rng.randint(1, 3))])
            built[layer] = [b["ts"] for b in ref.list_builds(root, layer)][::-1]
    expect_equal(f"seed {seed}: time base of a new store", "utc\n",
                 (root / ".sifstore-timebase").read_text())
    for layer in built:
        expect_equal(f"seed {seed}: reference lists sifstore's {layer}",
                     sif_json(exe, root, ["list", layer, "--json"]), ref.list_builds(str(root), layer))
    for layer in built:
        retain = rng.randint(0, 3)
        plan = sif_json(exe, root, ["prune", layer, "--retain", str(retain), "--dry-run",
                                    "--json"])["pruned"]
        with pinned_kept(case, root, layer):
            got = ref.prune(root, layer, retain)
        expect_equal(f"seed {seed}: reference prune of sifstore's {layer} --retain {retain}",
                     plan, got)
        expect_equal(f"seed {seed}: list {layer} after the reference pruned it",
                     ref.list_builds(str(root), layer), sif_json(exe, root, ["list", layer, "--json"]))


# ---------------------------------------------------------------------------


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sifstore", required=True, help="the built sifstore")
    ap.add_argument("--reference", required=True, help="directory holding scitex_store.py")
    ap.add_argument("--cases", type=int, default=400, help="random stores (default 400)")
    ap.add_argument("--cross", type=int, default=40,
                    help="stores written by each tool for the other (default 40)")
    ap.add_argument("--seed", type=int, default=20260524, help="first seed")
    ap.add_argument("--only", type=int, help="run only this seed (as printed by a failure)")
    ap.add_argument("--odd", action="store_true", help="with --only: the seed is an odd case")
    args = ap.parse_args()

    args.sifstore = os.path.abspath(args.sifstore)
    reference = Path(args.reference)
    if not (reference / "scitex_store.py").is_file():
        print(f"SKIP: the reference store module is not available ({reference}/scitex_store.py"
              " is missing); the differential test needs it")
        return SKIP
    sys.path.insert(0, str(Path(__file__).resolve().parent / "shim"))
    sys.path.insert(0, str(reference))
    global ref
    ref = importlib.import_module("scitex_store")

    start = time.monotonic()
    failures = []
    # The stores are tiny and SifStore fsyncs every write: a tmpfs keeps the
    # test fast. SIFSTORE_DIFF_TMPDIR overrides; else /dev/shm, else $TMPDIR.
    scratch = os.environ.get("SIFSTORE_DIFF_TMPDIR")
    if not scratch and os.path.isdir("/dev/shm") and os.access("/dev/shm", os.W_OK):
        scratch = "/dev/shm"
    with tempfile.TemporaryDirectory(prefix="sifstore-diff-", dir=scratch) as tmp:
        work = Path(tmp)
        if args.only is not None:
            seeds = [(args.only, args.odd)]
        else:
            seeds = [(args.seed + i, i % 5 == 4) for i in range(args.cases)]
        for seed, odd in seeds:
            try:
                run_case(args.sifstore, work, seed, odd)
            except Mismatch as m:
                failures.append(str(m))
            except Exception:
                failures.append(f"seed {seed} (odd={odd}): {traceback.format_exc()}")
            if len(failures) >= 5:
                break
        if args.only is None:
            for i in range(args.cross):
                for fn in (reference_writes, sifstore_writes):
                    try:
                        fn(args.sifstore, work, args.seed + i)
                    except Mismatch as m:
                        failures.append(f"{fn.__name__}: {m}")
                    except Exception:
                        failures.append(f"{fn.__name__} seed {args.seed + i}: "
                                        f"{traceback.format_exc()}")
                if len(failures) >= 5:
                    break
    elapsed = time.monotonic() - start
    print(f"{STATS['cases']} random stores, {STATS['steps']} steps ({STATS['compared']} compared "
          f"exactly, {sum(STATS['refusals'].values())} documented refusals "
          f"{STATS['refusals']}), {STATS['listed_builds']} builds listed, "
          f"{STATS['pruned_builds']} pruned, {STATS['pins_applied']} builds kept by a pin, "
          f"{STATS['stable_pointers']} stable pointer trios checked; "
          f"{args.cross if args.only is None else 0} cross-written stores each way; "
          f"{elapsed:.1f} s")
    print("compared outcomes:", ", ".join(f"{k} {v}" for k, v in sorted(STATS["outcomes"].items())))
    for f in failures:
        print("FAIL:", f, "\n")
    if failures:
        print(f"{len(failures)} difference(s); rerun one with --only SEED [--odd]")
        return 1
    print("PASS")
    return 0


if __name__ == "__main__":
    sys.exit(main())
