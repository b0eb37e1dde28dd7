"""A relay crash with framed acknowledgements (`frame-acks = on`): a client
(frameclient.AckingClient) sends 200,000 points in frames of 10 lines at
50,000 points/s, keeps the frames not yet acknowledged (`ack N` reply
frames) and, after reconnecting, sends them again.

1. The issue's scenario: victoria-metrics is frozen (SIGSTOP) for 2 s; in
   the middle of it tsrelay is SIGKILLed; VM resumes; tsrelay is restarted
   with the same configuration (same instance, Redis spool).  With resend:
   every point arrives (duplicates reported).  The same run without
   resending: what it loses is reported, not asserted.  Frames stay
   unacknowledged while VM is frozen (its kernel stops acknowledging once
   its receive window is full), but at 50,000 points/s one second of
   them fits tsrelay's own socket send buffer, which the kernel keeps
   delivering after the process died, once VM resumes: measured, nothing
   is lost, and with resend those frames arrive twice.  In both runs
   every acknowledged frame's points arrive.
2. A crash while tsrelay holds unacknowledged data: the TSD is a slow
   tssink (1 MB/s) that answers `version` (ack = version, ack-window
   256K), so tsrelay's queues hold up to spool-high of lines no TSD has
   parsed when it is SIGKILLed.  With resend: every point is parsed at
   least once.  Without: points are lost (> 0, asserted: the scenario
   always leaves lines in tsrelay's memory).
3. The README's example client (its code block, run as it is printed)
   sends 50,000 points across a SIGKILL and restart of tsrelay: every
   point arrives in victoria-metrics.
"""

import os
import random
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
from frameclient import AckingClient  # noqa: E402

h.hard_timeout(600)
tap = h.Tap()
N = 200000
PER_FRAME = 10
FRAMES = N // PER_FRAME
RATE = 5000            # frames/s: 50,000 points/s
NSERIES = 1000
T0 = int(time.time()) - 2 * 86400


def payloads(metric):
    return [("".join(h.telnet_line(metric, i, NSERIES, T0, put=False)
                     for i in range(f * PER_FRAME, (f + 1) * PER_FRAME))).encode()
            for f in range(FRAMES)]


class Scenario(threading.Thread):
    """Timed steps: (seconds after start, name, function)."""

    def __init__(self, steps):
        super().__init__(daemon=True)
        self.steps = steps
        self.log = []
        self.error = None

    def run(self):
        t0 = time.time()
        try:
            for at, name, fn in self.steps:
                time.sleep(max(0.0, t0 + at - time.time()))
                fn()
                self.log.append("%.2f %s" % (time.time() - t0, name))
        except Exception as e:  # reported by the test
            self.error = repr(e)


def values_of_frames(client, indices):
    return set(v for f in indices for v in range(f * PER_FRAME, (f + 1) * PER_FRAME))


def vm_values(vm, metric):
    vals = []
    for series in vm.export('{__name__="%s"}' % metric).values():
        for vs in series.values():
            vals.extend(int(v) for v in vs)
    return vals


def run_vm(resend):
    tag = "vm-resend" if resend else "vm-noresend"
    base = h.tmpdir()
    redis = h.Redis(base).start()
    vm = h.Victoria(base).start()
    relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis, name=tag,
                    relay={"frame-acks": "on", "memory-limit": "64M"})
    relay.start()
    metric = "it.fack.%s.m%d" % (tag.replace("-", ""), random.randrange(1 << 30))
    client = AckingClient(relay.port, payloads(metric), rate=RATE, resend=resend)
    at_kill = {}

    def kill():
        at_kill["unacked"] = len(client.unacked)
        at_kill["sent"] = client.sent_frames
        relay.kill()

    sc = Scenario([(1.0, "freeze VM", vm.freeze), (2.0, "SIGKILL tsrelay", kill),
                   (3.0, "thaw VM", vm.thaw), (3.0, "restart tsrelay", relay.start)])
    sc.start()
    complete = client.run(deadline_s=120, ack_wait_s=30)
    sc.join(timeout=30)
    client.close()
    tap.ok(sc.error is None, "%s: scenario ran: %s" % (tag, "; ".join(sc.log)), sc.error)
    tap.note("%s: frames unacknowledged / sent when tsrelay was killed" % tag,
             "%s / %s" % (at_kill.get("unacked"), at_kill.get("sent")))
    tap.ok(client.failures >= 1 and client.connects >= 2,
           "%s: the client saw the crash and reconnected (%d failures, %d connects)"
           % (tag, client.failures, client.connects))
    if resend:
        tap.ok(complete, "resend: every frame acknowledged in the end (%d frames sent again)"
               % client.resent)
    vm.flush()
    want = N - len(client.forgotten) * PER_FRAME
    vm.wait_count(metric, want, timeout=60, settle=1.0)
    vals = vm_values(vm, metric)
    distinct = set(vals)
    lost = set(range(N)) - distinct
    dups = len(vals) - len(distinct)
    tap.note("%s: arrived / distinct / duplicates / lost" % tag,
             "%d / %d / %d / %d" % (len(vals), len(distinct), dups, len(lost)))
    acked_lost = lost - values_of_frames(client, client.forgotten)
    tap.ok(not acked_lost, "%s: every point of every acknowledged frame arrived (%d did not)"
           % (tag, len(acked_lost)))
    if resend:
        tap.eq(len(lost), 0, "resend: every point arrived")
    else:
        tap.note("noresend: frames forgotten at the crash (sent, not acknowledged)",
                 len(client.forgotten))
        tap.note("noresend: points lost without resending", len(lost))
    tap.ok(relay.stop() == 0, "%s: the restarted tsrelay exits 0" % tag)
    vm.stop()
    redis.stop()
    return len(lost), dups


def run_held(resend):
    tag = "held-resend" if resend else "held-noresend"
    base = h.tmpdir()
    redis = h.Redis(base).start()
    sink = h.TsSink(base, "slow", ["--read-rate", "1M", "--answer-version", "--distinct", str(N)],
                    name="tsd-" + tag)
    relay = h.Relay(base, [("tsd", "127.0.0.1:%d" % sink.port)], redis=redis, name=tag,
                    relay={"frame-acks": "on", "memory-limit": "64M"},
                    backend_opts={"ack": "version", "ack-window": "256K", "conns": "2"},
                    redis_opts={"spool-high": "4M", "spool-low": "1M"})
    relay.start()
    metric = "it.fack.%s" % tag.replace("-", "")
    client = AckingClient(relay.port, payloads(metric), rate=RATE, resend=resend)
    at_kill = {}

    def kill():
        st = relay.stats()
        at_kill["queue_bytes"] = st.get(("backend.queue_bytes", "backend=tsd"), 0)
        at_kill["unacked"] = len(client.unacked)
        at_kill["sent"] = client.sent_frames
        relay.kill()

    sc = Scenario([(2.5, "SIGKILL tsrelay", kill), (3.0, "restart tsrelay", relay.start)])
    sc.start()
    complete = client.run(deadline_s=200, ack_wait_s=60)
    sc.join(timeout=30)
    client.close()
    tap.ok(sc.error is None, "%s: scenario ran: %s" % (tag, "; ".join(sc.log)), sc.error)
    tap.ok(at_kill.get("queue_bytes", 0) > 0,
           "%s: tsrelay held %d bytes of unanswered lines when killed; %s of %s frames "
           "unacknowledged" % (tag, at_kill.get("queue_bytes", 0), at_kill.get("unacked"),
                               at_kill.get("sent")))
    if resend:
        tap.ok(complete, "held-resend: every frame acknowledged in the end (%d sent again)"
               % client.resent)
    try:
        h.wait_until(lambda: relay.stats().get(("points.queued", None)) == 0 and
                     relay.stats().get(("points.spool_pending", None)) == 0, 120, 0.3,
                     what="the restarted tsrelay holds nothing")
    except TimeoutError as e:
        tap.ok(False, "%s: the restarted relay delivered everything" % tag, str(e))
    sink.wait_stable("lines", quiet=1.5, timeout=60)
    ss = sink.stats()
    distinct, dups = ss.get("distinct", 0), ss.get("duplicates", 0)
    tap.note("%s: parsed distinct / duplicates / lost" % tag,
             "%d / %d / %d" % (distinct, dups, N - distinct))
    if resend:
        tap.eq(distinct, N, "held-resend: every point parsed at least once")
    else:
        tap.ok(N - distinct > 0, "held-noresend: without resending, points are lost (%d; "
               "%d frames were forgotten)" % (N - distinct, len(client.forgotten)))
        tap.ok(N - distinct <= len(client.forgotten) * PER_FRAME,
               "held-noresend: only points of unacknowledged frames were lost")
    tap.ok(relay.stop() == 0, "%s: the restarted tsrelay exits 0" % tag)
    sink.stop()
    redis.stop()


def readme_client():
    """The FramedSender class of README.md's example, exactly as printed."""
    with open(os.path.join(h.TOP_SRCDIR, "README.md")) as f:
        text = f.read()
    block = text.split("### A framed client with acknowledgements", 1)[1]
    code = block.split("```python\n", 1)[1].split("```", 1)[0]
    code = code.split("\nsender = ", 1)[0]   # the class; the usage lines talk to :4242
    ns = {}
    exec(compile(code, "README.md", "exec"), ns)
    return ns["FramedSender"]


def run_readme():
    FramedSender = readme_client()
    base = h.tmpdir()
    redis = h.Redis(base).start()
    vm = h.Victoria(base).start()
    relay = h.Relay(base, [("vm", "127.0.0.1:%d" % vm.telnet)], redis=redis, name="readme",
                    relay={"frame-acks": "on"}).start()
    n, per = 50000, 10
    metric = "it.fack.readme.m%d" % random.randrange(1 << 30)
    sender = FramedSender("127.0.0.1", relay.port)
    for f in range(n // per):
        if f == n // per // 2:
            relay.kill()
            killed_unacked = len(sender.unacked)
        if f == n // per // 2 + 500:
            relay.start()
        sender.send([h.telnet_line(metric, i, NSERIES, T0, put=False).rstrip("\n")
                     for i in range(f * per, (f + 1) * per)])
    complete = sender.flush(wait=60)
    tap.ok(complete, "readme: the README's client got every frame acknowledged (%d were "
           "unacknowledged at the SIGKILL)" % killed_unacked)
    vm.wait_count(metric, n, timeout=60, settle=1.0)
    vals = vm_values(vm, metric)
    tap.note("readme: arrived / distinct / duplicates", "%d / %d / %d" % (
        len(vals), len(set(vals)), len(vals) - len(set(vals))))
    tap.eq(len(set(range(n)) - set(vals)), 0, "readme: every point arrived")
    tap.ok(relay.stop() == 0, "readme: the restarted tsrelay exits 0")
    vm.stop()
    redis.stop()


run_readme()
run_vm(True)
run_vm(False)
run_held(True)
run_held(False)
tap.done()
