"""The operator's documents agree with each other and with what ships
(TAP; in every make check, next to test_layers.py and check_docs):

1. The signal the logrotate snippet sends (debian/tsrelay.logrotate) is
   the one tsrelay(8) FILES says it sends, and the log-file entries of
   tsrelay.conf(5) and conf/tsrelay.conf name it as what reopens the log.
2. The accounting identity reads the same in README.md and tsrelay(8):
   the same counters on each side of the "=".
3. README.md's configuration table: one default per key in a row (a row
   of two keys has two defaults), and each default is the value
   conf/tsrelay.conf gives that key in its section.
4. The unit's MemoryMax (deploy/tsrelay.service) is documented where an
   operator sets memory-limit: README.md, tsrelay(8), tsrelay.conf(5),
   conf/tsrelay.conf.
5. README.md: the /dev/tcp examples say they need bash; it starts with
   exactly the two set-up commands (quickstart, test suite).

Usage: python3 tests/tools/test_docs.py  (files from $TOP_SRCDIR)
"""
import os
import re
import sys

top = os.environ.get("TOP_SRCDIR", os.path.join(os.path.dirname(__file__), "..", ".."))
n = 0
failed = 0


def report(ok, what, details=()):
    global n, failed
    n += 1
    if not ok:
        failed += 1
    print("%s %d - %s" % ("ok" if ok else "not ok", n, what))
    for d in list(details)[:20] if not ok else ():
        print("# " + str(d).replace("\n", "\n# "))


def skip(what, why):
    global n
    n += 1
    print("ok %d - %s # SKIP %s" % (n, what, why))


def text(rel):
    path = os.path.join(top, rel)
    if not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as f:
        return f.read()


def roff_plain(t):
    """Man page text without requests' dots and font escapes, "\\-" as "-"."""
    t = t.replace("\\-", "-").replace("\\(em", "--").replace("\\&", "")
    t = re.sub(r"\\f[BIRP]", "", t)
    lines = []
    for line in t.splitlines():
        if line.startswith((".B ", ".I ", ".BR ", ".RB ", ".BI ", ".IR ")):
            line = line.split(" ", 1)[1].replace('"', "")
        elif line.startswith("."):
            line = ""
        lines.append(line)
    return "\n".join(lines)


readme = text("README.md")
man8 = text("docs/tsrelay.8")
man5 = text("docs/tsrelay.conf.5")
conf = text("conf/tsrelay.conf")
unit = text("deploy/tsrelay.service")
logrotate = text("debian/tsrelay.logrotate")

# ---- 1. the logrotate signal ---------------------------------------------------
if logrotate is None:
    skip("the logrotate snippet's signal is the documented one", "no debian/ here")
else:
    m = re.search(r"--signal=(\w+)", logrotate)
    sig = m.group(1) if m else None
    report(sig is not None, "the logrotate snippet sends a signal (--signal=%s)" % sig)
    sig = "SIG" + (sig or "?")
    files = man8.split(".SH FILES", 1)[1].split("\n.SH", 1)[0]
    entry = next((e for e in files.split(".TP\n") if "/etc/logrotate.d/tsrelay" in e), "")
    said = re.findall(r"SIG[A-Z0-9]+", roff_plain(entry))
    report(said[:1] == [sig],
           "tsrelay(8) FILES: the logrotate snippet sends %s (the first signal it names: %s)"
           % (sig, said[:1]), [roff_plain(entry).strip()])
    m5 = roff_plain(man5)
    lf = m5.split("\nlog-file", 1)[1].split("\nlog-buffer-bytes", 1)[0]
    report(sig in lf, "tsrelay.conf(5) log-file: %s reopens it" % sig, [lf.strip()])
    lc = conf.split("\nlog-file =", 1)[0].rsplit("\n\n", 1)[-1]
    lc = lc.split("log-level = ", 1)[-1]
    report(sig in lc, "conf/tsrelay.conf log-file: %s reopens it" % sig, [lc.strip()])

# ---- 2. the accounting identity ------------------------------------------------------


def identity(t):
    """(left counters, right counters) of 'points.received ... = ...'."""
    t = re.sub(r"[`\n]", " ", t)
    m = re.search(r"(points\.received[\w\s.+]*?)=([\w\s.+]+?points\.dropped)", t)
    if not m:
        return None
    side = lambda s: sorted(re.findall(r"points\.\w+", s))  # noqa: E731
    return side(m.group(1)), side(m.group(2))


ri, mi = identity(readme), identity(roff_plain(man8))
report(ri is not None and ri == mi,
       "the accounting identity is the same in README.md and tsrelay(8)",
       ["README: %s" % (ri,), "tsrelay(8): %s" % (mi,)])

# ---- 3. README's configuration table -------------------------------------------------


def conf_values(t):
    """{(section, key): value} of conf/tsrelay.conf, commented '; key = v' too."""
    out, sect = {}, None
    for line in t.splitlines():
        s = line.strip()
        m = re.match(r"^;?\s*\[(relay|redis|backend|limits)\b", s)
        if m:
            sect = m.group(1)
            continue
        m = re.match(r"^;?\s*([a-z][a-z-]*)\s*=\s*(.*?)\s*(;.*)?$", s)
        if m and sect and (sect, m.group(1)) not in out:
            out[(sect, m.group(1))] = m.group(2)
    return out


values = conf_values(conf)
table = readme.split("## Configuration", 1)[1].split("\n\n###", 1)[0]
rows = [l for l in table.splitlines() if l.startswith("| `")]
bad, sect = [], "relay"
for row in rows:
    cells = [c.strip() for c in row.strip("|").split("|")]
    m = re.match(r"`\[(relay|redis|backend|limits)[^\]]*\]", cells[0])
    if m:
        sect = m.group(1)
    keys = [re.sub(r"^\[[^\]]*\]\s*", "", k) for k in re.findall(r"`([^`]+)`", cells[0])]
    defaults = re.findall(r"`([^`]+)`", cells[1])
    if not defaults:
        defaults = [d for d in re.split(r",\s+|\s+/\s+", cells[1]) if d]
        literal = False
    else:
        literal = True
    if len(keys) != len(defaults) and cells[1] != "(required)":
        bad.append("%s: %d keys, %d defaults (%s)" % (cells[0], len(keys), len(defaults),
                                                       cells[1]))
        continue
    for k, d in zip(keys, defaults):
        if literal and values.get((sect, k)) != d:
            bad.append("[%s] %s: README says %s, conf/tsrelay.conf %s"
                       % (sect, k, d, values.get((sect, k))))
report(len(rows) >= 10 and not bad,
       "README's configuration table: one default per key, each as conf/tsrelay.conf has it "
       "(%d rows)" % len(rows), bad)

# ---- 4. MemoryMax --------------------------------------------------------------------
m = re.search(r"^MemoryMax=(\S+)", unit, re.M)
mm = m.group(1) if m else None
report(mm is not None, "the unit sets MemoryMax (%s)" % mm)
for name, t in (("README.md", readme), ("tsrelay(8)", roff_plain(man8)),
                ("tsrelay.conf(5)", roff_plain(man5)), ("conf/tsrelay.conf", conf)):
    report(mm is not None and ("MemoryMax=%s" % mm) in t and "memory-limit" in
           t[max(0, t.find("MemoryMax=%s" % mm) - 600):t.find("MemoryMax=%s" % mm) + 600],
           "%s documents MemoryMax=%s next to memory-limit" % (name, mm))

# ---- 5. README's examples and first lines ---------------------------------------------
devtcp = [i for i, l in enumerate(readme.splitlines()) if "/dev/tcp/" in l]
lines = readme.splitlines()
report(all("bash" in "\n".join(lines[max(0, i - 8):i + 1]) for i in devtcp),
       "README: every /dev/tcp example says it needs bash (%d)" % len(devtcp))
first = readme.split("\n\n", 2)[1].splitlines()
cmds = [l.split("#")[0].strip() for l in first]
report(cmds == ["deploy/quickstart.sh", "deploy/test.sh"],
       "README starts with exactly the two set-up commands", first)

print("1..%d" % n)
sys.exit(1 if failed else 0)
