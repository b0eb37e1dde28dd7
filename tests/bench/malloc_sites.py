"""malloc_sites.py -- reads the dumps of tests/bench/malloc_sites.so.

    python3 malloc_sites.py DUMP            the call stacks holding the most
    python3 malloc_sites.py --largest DUMP  the call stacks that made the
                                            largest allocations (what moves
                                            glibc's mmap threshold up)
    python3 malloc_sites.py EARLY LATE      the call stacks whose live bytes
                                            grew from EARLY to LATE

Each stack is printed with its live bytes and blocks (and, for two dumps,
the change), innermost frame first, function names from addr2line (a
stripped library names only its exported functions; '??' otherwise).
It only reads the dumps and runs addr2line.
"""
import collections
import os
import subprocess
import sys


def load(path):
    sites, maps = {}, []
    in_maps = False
    with open(path) as f:
        for line in f:
            if line.startswith("# maps"):
                in_maps = True
                continue
            if line.startswith("#"):
                continue
            w = line.split()
            if in_maps:
                if len(w) >= 6 and w[5].startswith("/"):
                    lo, hi = (int(x, 16) for x in w[0].split("-"))
                    maps.append((lo, hi, int(w[2], 16), w[5]))
                continue
            key = tuple(int(x, 16) for x in w[4:])
            sites[key] = (int(w[0]), int(w[1]), int(w[2]), int(w[3]))
    return sites, maps


def resolver(maps):
    cache = {}

    def where(pc):
        for lo, hi, off, path in maps:
            if lo <= pc < hi:
                return path, pc - lo + off
        return None, pc

    def names(pcs):
        by_file = collections.defaultdict(set)
        for pc in pcs:
            path, addr = where(pc)
            if path is not None:
                by_file[path].add(addr)
        for path, addrs in by_file.items():
            addrs = sorted(addrs)
            # a return address points after the call: ask for the call itself
            out = subprocess.run(["addr2line", "-f", "-C", "-e", path] +
                                 ["%x" % (a - 1) for a in addrs],
                                 capture_output=True, text=True).stdout.splitlines()
            for i, a in enumerate(addrs):
                fn = out[2 * i] if 2 * i < len(out) else "??"
                src = out[2 * i + 1] if 2 * i + 1 < len(out) else "??"
                src = os.path.basename(src.split(" ")[0]) if not src.startswith("??") else ""
                cache[(path, a)] = "%s (%s%s)" % (fn, os.path.basename(path),
                                                  ":" + src if src else "")
        return lambda pc: cache.get(where(pc), "%x" % pc)

    return names


def show(rows, name, limit=25):
    for delta, (b, n, t, m), stack in rows[:limit]:
        head = "%+9d B" % delta if delta is not None else "%9d B" % b
        print("%s  live %d B in %d blocks (%d made, the largest %d B)" % (head, b, n, t, m))
        for pc in stack:
            print("      " + name(pc))


def main(argv):
    largest = len(argv) > 1 and argv[1] == "--largest"
    if largest:
        argv = argv[:1] + argv[2:]
    if len(argv) not in (2, 3):
        sys.stderr.write(__doc__)
        return 2
    late, maps = load(argv[-1])
    early = load(argv[1])[0] if len(argv) == 3 else None
    pcs = {pc for k in late for pc in k}
    name = resolver(maps)(pcs)
    rows = []
    for k, v in late.items():
        if early is None:
            rows.append((None, v, k))
        else:
            d = v[0] - early.get(k, (0, 0, 0, 0))[0]
            if d != 0:
                rows.append((d, v, k))
    if largest:
        rows.sort(key=lambda r: -r[1][3])
    else:
        rows.sort(key=lambda r: -(r[0] if r[0] is not None else r[1][0]))
    total = sum(v[0] for v in late.values())
    print("live: %d B in %d stacks" % (total, len(late)))
    if early is not None:
        print("grew: %+d B" % (total - sum(v[0] for v in early.values())))
    show(rows, name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
