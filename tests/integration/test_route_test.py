"""tsrelay -T, the route test, and -t with rules: the binary as an operator
runs it (no backend, no Redis: nothing is started).

A table of input lines, each with the account -T must print for it
(tsrelay(8), ROUTE TEST): a rename with a tag trim and an added tag to a
hashed group; a drop; a rewrite that the TSD's rules then refuse (the line
grows past 1024 bytes); a set-tags the TSD refuses (too many tags); an
invalid line; a send to two groups (all, failover); a rollup and a framed
line.  For the hashed group the backend is the one the relay routes to: it
must be the same on every run and for the same series whatever its value.
Then -t: a file whose rule does not compile is refused, exit 1, with
FILE:LINE: [rule NAME] match: <PCRE2's message> at offset N; a good one
says how many groups and rules it has.  Also that -T starts nothing: it
runs with its backends' ports closed.  Under a second.
"""

import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(60)
tap = h.Tap()
base = h.tmpdir()

CONF = r"""[relay]
listen = 127.0.0.1:%d
default-group = main

[backend tsd1]
address = 127.0.0.1:1
[backend tsd2]
address = 127.0.0.1:2
[backend test1]
address = 127.0.0.1:3
[backend test2]
address = 127.0.0.1:4

[group main]
backends = tsd1, tsd2

[group mirror]
backends = test1, test2
routing = all

[group spare]
backends = test2, test1
routing = failover

[rule drop-debug]
match = ^debug\.
action = drop

[rule rename-cpu]
match = ^sys\.cpu\.(.+)$
action = rewrite
metric = os.cpu.\1

[rule grow]
match = ^grow\.(.+)$
action = rewrite
metric = \1\1\1\1\1\1\1\1\1\1
stop = yes

[rule trim-pid]
action = drop-tags
keys = pid

[rule many]
match = ^many\.
action = set-tags
tags = a=1, b=2, c=3, d=4, e=5, f=6, g=7, h=8

[rule dc]
action = set-tags
tags = dc=eu1

[rule mirror-app]
match = ^app\.
action = send
to = mirror, spare
""" % h.free_port()

conf = os.path.join(base, "rules.conf")
with open(conf, "w") as f:
    f.write(CONF)

grow = "grow." + "x" * 110
CASES = [
    ("put sys.cpu.user 1700000000 1 host=web1 pid=42",
     ["  rules: rename-cpu, trim-pid, dc",
      "  line: put os.cpu.user 1700000000 1 dc=eu1 host=web1",
      "  to: main (hash) HASH"]),
    ("put debug.trace 1700000000 1 host=web1",
     ["  rules: drop-debug", "  dropped: rule drop-debug"]),
    ("put %s 1700000000 1 host=a" % grow,
     ["  rules: grow",
      "  refused: rule grow made a point the TSD refuses: illegal argument: line too long for "
      "the TSD: %d bytes, the limit is 1024 (a TSD closes the connection on a longer line)"
      % (len("put ") + 10 * 110 + len(" 1700000000 1 host=a"))]),
    ("put many.x 1700000000 1 host=a",
     ["  rules: trim-pid, many, dc",
      "  refused: rule dc made a point the TSD refuses: illegal argument: Too many tags: 10 "
      "maximum allowed: 8, tags: {a=1, b=2, c=3, d=4, e=5, f=6, g=7, host=a, h=8, dc=eu1}"]),
    ("put nope 1700000000",
     ["  invalid: put: illegal argument: not enough arguments (need least 4, got 2)"]),
    ("put app.req 1700000000 1 host=web1",
     ["  rules: trim-pid, dc, mirror-app",
      "  line: put app.req 1700000000 1 dc=eu1 host=web1",
      "  to: mirror (all) test1, test2; spare (failover) test2"]),
    ("rollup 1h-sum sys.cpu.idle 1700000000 1 host=a",
     ["  rules: rename-cpu, trim-pid, dc",
      "  line: rollup 1h-sum os.cpu.idle 1700000000 1 dc=eu1 host=a",
      "  to: main (hash) HASH"]),
    ("sys.cpu.x 1700000000 2 host=b",
     ["  rules: rename-cpu, trim-pid, dc",
      "  line: put os.cpu.x 1700000000 2 dc=eu1 host=b",
      "  to: main (hash) HASH"]),
]


def route(lines):
    p = subprocess.run([h.TSRELAY, "-T", "-c", conf], input="\n".join(lines) + "\n",
                       capture_output=True, text=True, timeout=20)
    return p.returncode, p.stdout, p.stderr


rc, out, errout = route([c[0] for c in CASES])
tap.eq(rc, 0, "-T exits 0 (stderr: %s)" % errout.strip())
blocks = {}
cur = None
for line in out.splitlines():
    if not line.startswith("  "):
        cur = line
        blocks[cur] = []
    else:
        blocks[cur].append(line)
for inp, want in CASES:
    got = blocks.get(inp, [])
    ok = len(got) == len(want)
    for g, w in zip(got, want):
        if w.endswith("HASH"):
            ok = ok and g.startswith(w[:-4]) and g[len(w) - 4:] in ("tsd1", "tsd2")
        else:
            ok = ok and g == w
    tap.ok(ok, "-T: %s" % inp[:60], "got:\n%s\nwant:\n%s" % ("\n".join(got), "\n".join(want)))

# the hashed backend: the same series goes to the same backend, whatever
# its timestamp or value, on every run
series = ["put m%d 17000000%02d %d host=h%d pid=1" % (k % 9, k, k, k % 4) for k in range(60)]
_, a, _ = route(series)
_, b, _ = route(series)
picks = {}
stable = True
rows = [ln for ln in a.splitlines() if ln.startswith("  to: ")]
for line, to in zip(series, rows):
    key = line.split()[1] + " " + line.split()[4]
    if picks.setdefault(key, to) != to:
        stable = False
tap.ok(a == b and stable and len(rows) == len(series),
       "-T: a series always goes to the same backend (%d series, %d lines, two runs)" % (
           len(picks), len(series)))
tap.ok(len(set(picks.values())) == 2, "-T: the hash spreads series over both backends of main")

# -t: a rule that does not compile
bad = os.path.join(base, "bad.conf")
with open(bad, "w") as f:
    f.write(CONF.replace("match = ^debug\\.", "match = ^debug(\\."))
p = subprocess.run([h.TSRELAY, "-t", "-c", bad], capture_output=True, text=True, timeout=20)
line = next(i + 1 for i, t in enumerate(CONF.splitlines()) if t == "match = ^debug\\.")
want = "tsrelay: configuration error: %s:%d: [rule drop-debug] match: missing closing " \
       "parenthesis at offset 9" % (bad, line)
tap.ok(p.returncode == 1 and p.stderr.strip() == want,
       "-t refuses a rule that does not compile, exit 1: %s" % p.stderr.strip(),
       "want: %s\nexit %d" % (want, p.returncode))
p = subprocess.run([h.TSRELAY, "-T", "-c", bad], capture_output=True, text=True, timeout=20,
                   input="put a 1 1 h=a\n")
tap.ok(p.returncode == 1 and p.stdout == "", "-T refuses it too, printing nothing")
p = subprocess.run([h.TSRELAY, "-t", "-c", conf], capture_output=True, text=True, timeout=20)
tap.ok(p.returncode == 0 and "4 backends, 3 groups, 7 rules" in p.stdout,
       "-t: %s" % p.stdout.strip())
tap.done()
