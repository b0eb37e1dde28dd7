"""What a reload (SIGHUP) and a log reopen (SIGUSR1) tell the operator,
read from the log as an operator reads it.  One relay, a fake TSD
(tests/tools/tssink), no Redis:

1. a file changing idle-timeout, log-level, memory-limit and a backend's
   write-timeout and address: one line per changed value, with the old
   and the new value ("reload: [relay] idle-timeout 5m -> 5s",
   "reload: [backend tsd] write-timeout 10s -> 2s"); the summary counts
   them; two keys that need a restart (block-size, history) are kept
   with a warning naming both values and counted with the right grammar ("2 keys need a
   restart"), and the values are in force (stats, debug lines);
2. the same file again: "0 values changed", and one restart key left
   different: "1 key needs a restart";
3. logging to stderr, SIGHUP says nothing about a log file, SIGUSR1 says
   there is none to reopen; a relay with log-file set says it reopened
   it on both.
"""

import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(120)
tap = h.Tap()
base = h.tmpdir()
sink = h.TsSink(base)
sink2 = h.TsSink(base, name="sink2")
relay = h.Relay(base, [("tsd", "127.0.0.1:%d" % sink.port)],
                relay={"idle-timeout": "5m", "history": "15m"},
                backend_opts={"write-timeout": "10s"}).start()


def reload(relay_opts, backend, backend_opts):
    """Rewrites the file and sends SIGHUP; the log text the reload wrote."""
    relay.write_conf([backend], relay=relay_opts, backend_opts=backend_opts)
    mark = len(relay.logtext())
    relay.reload()
    h.wait_until(lambda: "SIGHUP: " in relay.logtext()[mark:] and
                 "reloaded" in relay.logtext()[mark:], 10, what="the reload's summary")
    time.sleep(0.2)
    return relay.logtext()[mark:]


def lines_with(text, what):
    return [l for l in text.splitlines() if what in l]


# ---- 1: values changed, two keys that need a restart ----------------------------
moved = ("tsd", "127.0.0.1:%d" % sink2.port)
opts = {"idle-timeout": "5s", "log-level": "debug", "memory-limit": "64M",
        "block-size": "128K", "history": "10m"}
log = reload(opts, moved, {"write-timeout": "2s"})
tap.note("reload 1 logged", "\n" + "\n".join("    " + l for l in log.splitlines()
                                             if "reload" in l or "SIGHUP" in l))
want = ["reload: [relay] idle-timeout 5m -> 5s",
        "reload: [relay] log-level info -> debug",
        "reload: [relay] memory-limit 128M -> 64M",
        "reload: [backend tsd] write-timeout 10s -> 2s",
        "reload: [backend tsd] address 127.0.0.1:%d -> 127.0.0.1:%d" % (sink.port, sink2.port)]
for w in want:
    tap.ok(w in log, "the log names the changed value: %s" % w)
summary = lines_with(log, "reloaded:")
tap.ok(len(summary) == 1 and "2 keys need a restart (running values kept)" in summary[0],
       "the summary: 2 keys need a restart", summary)
changed = [l for l in log.splitlines() if "reload: [" in l]
tap.ok(summary and ("reloaded: %d values changed;" % len(changed)) in summary[0],
       "the summary counts the %d changed values" % len(changed), summary)
tap.ok("block-size needs a restart: keeping 64K (the file says 128K)" in log and
       "history needs a restart: keeping 15m (the file says 10m)" in log and
       "reload: [relay] block-size" not in log,
       "block-size and history: kept with a warning naming both values, not shown as changed")
tap.ok("log file reopened" not in log and "reopen" not in log,
       "logging to stderr: SIGHUP says nothing about reopening a log file")
st = relay.stats()
tap.eq(st.get(("memory.limit", None)), 64 << 20, "memory-limit 64M is in force")

# ---- 2: nothing changed; one restart key left different ---------------------------
opts["history"] = "15m"
log = reload(opts, moved, {"write-timeout": "2s"})
summary = lines_with(log, "reloaded:")
tap.ok(summary and "reloaded: 0 values changed;" in summary[0] and
       "1 key needs a restart (running values kept)" in summary[0] and
       not lines_with(log, "reload: ["),
       "the same file again: 0 values changed, 1 key needs a restart", summary)

# ---- 3: SIGUSR1 (logrotate) with stderr, and with a log file ---------------------
mark = len(relay.logtext())
relay.proc.send_signal(signal.SIGUSR1)
h.wait_until(lambda: "SIGUSR1" in relay.logtext()[mark:], 10, what="SIGUSR1 answered")
tap.ok("SIGUSR1: logging to stderr: no log file to reopen" in relay.logtext()[mark:],
       "SIGUSR1 with stderr: says there is no log file to reopen")
tap.ok(relay.stop() == 0, "tsrelay exits 0")

logfile = os.path.join(base, "tsrelay-file.log")
rf = h.Relay(base, [("tsd", "127.0.0.1:%d" % sink.port)], name="relay-file",
             relay={"log-file": logfile}).start()


def file_text():
    with open(logfile, errors="replace") as f:
        return f.read()


for sig, name in ((signal.SIGUSR1, "SIGUSR1"), (signal.SIGHUP, "SIGHUP")):
    os.rename(logfile, logfile + "." + name)
    rf.proc.send_signal(sig)
    h.wait_until(lambda: os.path.exists(logfile) and name in file_text(), 10,
                 what="%s written to the new file" % name)
    tap.ok("%s: log file reopened" % name in file_text(),
           "log-file set: %s reopens it and says so in the new file" % name)
tap.ok(rf.stop() == 0, "the relay with a log file exits 0")
sink.stop()
sink2.stop()
tap.done()
