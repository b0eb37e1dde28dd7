"""deploy/quickstart.sh as a newcomer runs it (its dependencies are there
and tsrelay is built, so it installs nothing; TSRELAY names this build's
binary, and free ports replace 4242, 6380, 8429 and 4243):

  - it prints tsrelay's, redis-server's and victoria-metrics' PIDs (each
    alive), their logs (the files exist), the configuration's path (the
    file tsrelay runs with, its ports in it), the data directory and what
    happens to it, and one line on how to stop;
  - the README's telnet example reaches victoria-metrics through it;
  - `kill -HUP PID`, as printed, reloads tsrelay;
  - `kill` of the script, as printed, stops all three and deletes the
    directory, saying so; with KEEP=1 the directory stays, and it says
    where.
"""

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(180)
tap = h.Tap()
SCRIPT = os.path.join(h.TOP_SRCDIR, "deploy", "quickstart.sh")


class Quickstart:
    """The script running, its output (tsrelay's log too) collected."""

    def __init__(self, keep):
        self.ports = {k: h.free_port() for k in ("PORT", "REDIS_PORT", "VM_PORT",
                                                 "VM_TELNET_PORT")}
        env = dict(os.environ, TSRELAY=h.TSRELAY, KEEP="1" if keep else "0",
                   **{k: str(v) for k, v in self.ports.items()})
        self.proc = subprocess.Popen(["sh", SCRIPT], stdout=subprocess.PIPE,
                                     stderr=subprocess.STDOUT, env=env, cwd=h.TOP_SRCDIR,
                                     start_new_session=True)
        self.out = ""
        self.lock = threading.Lock()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in iter(self.proc.stdout.readline, b""):
            with self.lock:
                self.out += line.decode("utf-8", "replace")

    def text(self):
        with self.lock:
            return self.out

    def said(self, what):
        m = re.search(r"^quickstart: %s +(.*)$" % re.escape(what), self.text(), re.M)
        return m.group(1) if m else None

    def stop(self, pid):
        os.kill(pid, signal.SIGTERM)
        self.proc.wait(timeout=60)
        time.sleep(0.2)


def alive(pid):
    try:
        os.kill(pid, 0)
        return True
    except OSError:
        return False


started = []


def run(keep):
    q = Quickstart(keep)
    started.append(q)
    try:
        h.wait_until(lambda: q.said("stop") is not None or q.proc.poll() is not None, 90,
                     what="the quickstart's summary")
    except Exception:
        pass
    label = "KEEP=1: " if keep else ""
    if q.said("stop") is None:
        tap.ok(False, label + "the quickstart started and printed its summary", q.text()[-2000:])
        return
    pids = {}
    for name in ("tsrelay", "redis-server", "victoria-metrics"):
        m = re.match(r"pid (\d+),", q.said(name) or "")
        pids[name] = int(m.group(1)) if m else None
    tap.ok(all(p and alive(p) for p in pids.values()),
           label + "it prints the PIDs of tsrelay, redis-server and victoria-metrics, "
           "all running (%s)" % pids)
    logs = re.findall(r"log: (/\S+)", q.text())
    tap.ok(len(logs) == 2 and all(os.path.isfile(f) for f in logs) and
           "log: this terminal" in (q.said("tsrelay") or ""),
           label + "it prints the log paths (%s; tsrelay's: this terminal)" % logs)
    m = re.match(r"(\S+) \(edit it, then reload: kill -HUP (\d+)\)", q.said("configuration") or "")
    conf = m.group(1) if m else None
    conf_text = open(conf).read() if conf and os.path.isfile(conf) else ""
    tap.ok(m and int(m.group(2)) == pids["tsrelay"] and
           ("listen = 0.0.0.0:%d auto" % q.ports["PORT"]) in conf_text and
           ("address = 127.0.0.1:%d" % q.ports["VM_TELNET_PORT"]) in conf_text,
           label + "it prints the configuration tsrelay runs with (%s) and how to reload it"
           % conf)
    data = (q.said("data") or "").split(" ")[0]
    tap.ok(os.path.isdir(data) and conf and conf.startswith(data + "/") and
           (("kept at the end" in q.said("data")) if keep else
            ("deleted at the end" in q.said("data") and "KEEP=1 keeps it" in q.said("data"))),
           label + "it says where its data is and what happens to it: %s" % q.said("data"))
    stop = q.said("stop") or ""
    tap.ok(("kill %d" % q.proc.pid) in stop and "Ctrl-C" in stop,
           label + "one line on how to stop: %s" % stop)
    if not keep:
        # the README's telnet example, through the quickstart
        t = int(time.time())
        s = socket.create_connection(("127.0.0.1", q.ports["PORT"]), timeout=5)
        s.sendall(b"put demo.telnet %d 42 host=a\n" % t)
        s.close()
        vm = "http://127.0.0.1:%d" % q.ports["VM_PORT"]

        def arrived():
            h.http_get(vm + "/internal/force_flush")
            q_ = urllib.request.quote('{__name__="demo.telnet"}')
            body = h.http_get(vm + "/api/v1/export?match[]=%s&start=0&end=%d"
                              % (q_, t + 86400))[1]
            return b'"values":[42]' in body
        try:
            h.wait_until(arrived, 30, 0.5, "the point in victoria-metrics")
            tap.ok(True, "the README's telnet example reaches victoria-metrics through it")
        except Exception as e:
            tap.ok(False, "the README's telnet example reaches victoria-metrics through it",
                   str(e))
        mark = len(q.text())
        os.kill(pids["tsrelay"], signal.SIGHUP)
        try:
            h.wait_until(lambda: "reloaded" in q.text()[mark:], 10, what="the reload")
        except Exception:
            pass
        tap.ok("reloaded" in q.text()[mark:], "kill -HUP PID, as printed, reloads tsrelay")
    q.stop(q.proc.pid)
    tap.ok(not any(alive(p) for p in pids.values() if p),
           label + "kill of the script, as printed, stops all three")
    last = [l for l in q.text().splitlines() if l.startswith("quickstart: stopped")]
    if keep:
        tap.ok(os.path.isdir(data) and os.path.isdir(os.path.join(data, "vm")) and last and
               ("kept %s" % data) in last[0],
               label + "the data directory stays, and it says where", last)
        subprocess.call(["rm", "-rf", data])
    else:
        tap.ok(not os.path.exists(data) and last and ("deleted %s" % data) in last[0],
               "the data directory is deleted, and it says so", last)


for keep in (False, True):
    try:
        run(keep)
    finally:
        for q in list(started):  # nothing of a failed run is left behind
            try:
                os.killpg(q.proc.pid, signal.SIGKILL)
            except OSError:
                pass
            started.remove(q)
tap.done()
