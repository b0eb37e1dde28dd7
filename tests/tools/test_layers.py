"""The house rules of src/, checked on every build (TAP).

1. Layers: src/ is in folders by layer, and an include may only point down
   (or within its own folder).  Ranks, low to high:
       base (0) < input, output (1) < spool (2) < core (3) < ops (4) < src/ (5)
   input and output are peers: neither includes the other.  A module of a
   folder is its .c and .h; the graph of modules must have no circle, also
   within one folder.
2. Size: no .c file over MAX_FILE_LINES lines, no function body over
   MAX_FUNC_LINES lines (functions are written with the name in column 1
   and the braces of the body in column 1, as everywhere in src/).
3. Names: no two files define a static function of the same name, so a
   reader (and a tool drawing the call graph) can tell which one is meant.

Usage: python3 tests/tools/test_layers.py [SRCDIR]  (default $TOP_SRCDIR/src)
"""
import os
import re
import sys

RANK = {"base": 0, "input": 1, "output": 1, "spool": 2, "core": 3, "ops": 4, "": 5}
MAX_FILE_LINES = 1000
MAX_FUNC_LINES = 80

top = os.environ.get("TOP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
src = sys.argv[1] if len(sys.argv) > 1 else os.path.join(top, "src")

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"', re.M)
FUNC_START = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)\(")
STATIC_FUNC = re.compile(r"^static\s+(?:inline\s+)?[^;=()]*?\n?([A-Za-z_][A-Za-z0-9_]*)\(", re.M)

n = 0
failed = 0


def report(ok, what, details=()):
    global n, failed
    n += 1
    if not ok:
        failed += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, what))
    for d in list(details)[:40]:
        print("# " + d)


def source_files():
    out = []
    for root, _dirs, files in os.walk(src):
        for f in sorted(files):
            if f.endswith((".c", ".h")) and f != "autoconf.h":
                out.append(os.path.relpath(os.path.join(root, f), src))
    return sorted(out)


def folder(path):
    return os.path.dirname(path)


def module(path):
    return os.path.splitext(path)[0]


files = source_files()
texts = {f: open(os.path.join(src, f), encoding="latin-1").read() for f in files}

# ---- 1. layers --------------------------------------------------------------
unknown = sorted({folder(f) for f in files if folder(f) not in RANK})
report(not unknown, "every folder of src/ has a layer", ["unknown folder: " + u for u in unknown])

upward = []
edges = {}
for f, text in texts.items():
    me = folder(f)
    for inc in INCLUDE.findall(text):
        if inc == "autoconf.h":
            continue
        target = os.path.normpath(inc)
        if target not in texts:
            # generated files (ops/status_assets.c) and system headers
            continue
        them = folder(target)
        if me in RANK and them in RANK and them != me and RANK[them] >= RANK[me]:
            upward.append("%s includes %s (%s may not include %s)" % (f, inc, me or "src/", them or "src/"))
        if module(target) != module(f):
            edges.setdefault(module(f), set()).add(module(target))
report(not upward, "no include points up or across to a peer layer", upward)


def find_cycles(graph):
    cycles = []
    state = {}
    stack = []

    def visit(v):
        state[v] = 1
        stack.append(v)
        for w in sorted(graph.get(v, ())):
            if state.get(w) == 1:
                cycles.append(" -> ".join(stack[stack.index(w):] + [w]))
            elif w not in state:
                visit(w)
        stack.pop()
        state[v] = 2

    for v in sorted(graph):
        if v not in state:
            visit(v)
    return cycles


cycles = find_cycles(edges)
report(not cycles, "the modules' include graph has no circle", cycles)

# ---- 2. size ----------------------------------------------------------------
big = ["%s: %d lines" % (f, t.count("\n")) for f, t in texts.items()
       if f.endswith(".c") and t.count("\n") > MAX_FILE_LINES]
report(not big, "no .c file over %d lines" % MAX_FILE_LINES, big)


def functions(text):
    """(name, first line, body lines) of each function defined in text."""
    lines = text.split("\n")
    out = []
    name = None
    start = None
    for i, line in enumerate(lines):
        m = FUNC_START.match(line)
        if m and not line.rstrip().endswith(";"):
            name = m.group(1)
        elif line.startswith("{") and name is not None and start is None:
            start = i
        elif line.startswith("}") and start is not None:
            out.append((name, start + 1, i - start - 1))
            name = None
            start = None
        elif line and not line[0].isspace() and start is None and not m:
            if not line.startswith(("{", "}", "/", "#", "*")) and line.rstrip().endswith(";"):
                name = None
    return out


longs = []
nfuncs = 0
for f, t in texts.items():
    if not f.endswith(".c"):
        continue
    for name, line, body in functions(t):
        nfuncs += 1
        if body > MAX_FUNC_LINES:
            longs.append("%s:%d: %s() has %d lines" % (f, line, name, body))
report(nfuncs > 100, "function bodies were found (%d)" % nfuncs)
report(not longs, "no function over %d lines" % MAX_FUNC_LINES, longs)

# ---- 3. names ---------------------------------------------------------------
seen = {}
for f, t in texts.items():
    if not f.endswith(".c"):
        continue
    for m in STATIC_FUNC.finditer(t):
        seen.setdefault(m.group(1), []).append(f)
clashes = ["%s() in %s" % (k, ", ".join(v)) for k, v in sorted(seen.items()) if len(set(v)) > 1]
report(not clashes, "no static function name is defined in two files", clashes)

print("1..%d" % n)
sys.exit(1 if failed else 0)
