"""Redis authentication, against real redis-server and redis-sentinel:
  - requirepass: [redis] password -- spool (TSD down) and drain work;
  - an ACL user limited to the test's <prefix>:* keys and exactly the
    commands tsrelay sends: [redis] username + password -- spool and drain
    work (a command tsrelay needs and the user lacks would fail them);
  - a wrong password: a clear log line (once), redis.auth_failures, and
    what Redis down means -- memory-only, nothing lost, retried with
    backoff; fixed by SIGHUP, the spool connects and every point arrives;
  - Sentinels with a password of their own (sentinel-password), the
    master with its own: the spool works; a wrong sentinel-password is
    counted as redis.auth_failures{server=sentinel}.
  - the ACL user keeps the points an HTTP backend refuses for good (the
    scripts' EVAL and the commands they call), lists them and replays
    them (found here: the documented ACL lacked eval and the scripts'
    commands, and every refused point was lost with a warning).
The passwords never show in a log, /metrics, /api/stats or the status
page, nor in `tsrelay -t`'s output.  (About 25 s.)"""

import os
import random
import shutil
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
import tlsutil as tu  # noqa: E402

h.hard_timeout(180)
tap = h.Tap()
base = h.tmpdir()
RUN = random.randrange(1 << 30)
PW = "r00t-Pw-%d" % RUN            # requirepass (the default user)
USER, UPW = "tsrelay", "acl-Pw-%d" % RUN
SPW = "sent-Pw-%d" % RUN           # the Sentinel's own
WRONG = "wrong-Pw-%d" % RUN
SECRETS = [PW, UPW, SPW, WRONG]
PREFIX = "it%d" % os.getpid()
# what tsrelay sends to Redis, no more: keep this list the docs' list
COMMANDS = ("rpush rpushx lpush lmove lrem llen lrange lindex del exists get set pexpire "
            "sadd srem smembers scan multi exec discard wait role memory|usage "
            "hset hmget eval incrby decrby lpop ltrim").split()
T0 = int(time.time()) - 3600


def sub(name):
    d = os.path.join(base, name)
    os.makedirs(d, exist_ok=True)
    return d


r1 = h.Redis(sub("r1"), password=PW).start()
r2 = h.Redis(sub("r2"), password=PW).start()
acl = ["ACL", "SETUSER", USER, "reset", "on", ">" + UPW, "~%s:*" % PREFIX, "resetchannels",
       "-@all"] + ["+" + c for c in COMMANDS]
tap.eq(r2.cmd(*acl), "OK", "an ACL user limited to %s:* and %d commands" % (PREFIX,
                                                                          len(COMMANDS)))
vm_port = h.free_port()  # victoria-metrics comes up later: the TSD is down at first
relays = []


def relay(name, redis, opts, backend_port=vm_port):
    r = h.Relay(base, [("vm", "127.0.0.1:%d" % backend_port)], redis=redis, name=name,
                instance=name, redis_opts=dict({"spool-flush-interval": "50ms"}, **opts),
                relay={"reconnect-max": "1s"})
    relays.append(r)
    return r.start()


def st(r, key, tag=None):
    return r.stats().get((key, tag), 0)


def spool_len(redis, r):
    out = redis.cmd("LLEN", r.spool_key("vm"))
    return int(out) if out.isdigit() else -1


def send(r, m, n):
    res = h.run_tsload(r.port, n, proto="telnet", conns=1, metric=m, series=50, start_ts=T0)
    return res.get("exit")


# ---- requirepass, and an ACL user -------------------------------------------------
ra = relay("pass", r1, {"password": PW})
rb = relay("acl", r2, {"username": USER, "password": UPW})
h.wait_until(lambda: st(ra, "spool.connected") == 1 and st(rb, "spool.connected") == 1, 15,
             what="both spools connected")
tap.ok(True, "requirepass and the ACL user: both spools connected")
ma, mb = "it.rauth.pass.r%d" % RUN, "it.rauth.acl.r%d" % RUN
tap.eq((send(ra, ma, 3000), send(rb, mb, 3000)), (0, 0), "3,000 points sent to each")
h.wait_until(lambda: spool_len(r1, ra) > 0 and spool_len(r2, rb) > 0, 20,
             what="entries in both spools")
tap.ok(True, "with the TSD down, both spooled into Redis (%d and %d entries)" % (
    spool_len(r1, ra), spool_len(r2, rb)))

# ---- a wrong password: memory-only until SIGHUP fixes it ---------------------------------
rc = relay("wrong", r1, {"password": WRONG})
mc = "it.rauth.wrong.r%d" % RUN
h.wait_until(lambda: st(rc, "redis.auth_failures", "server=redis") >= 1, 15,
             what="auth failure counted")
tap.eq(send(rc, mc, 1000), 0, "1,000 points sent to the relay with the wrong password")
time.sleep(3)
fails = st(rc, "redis.auth_failures", "server=redis")
tap.ok(rc.alive() and st(rc, "spool.connected") == 0,
       "wrong password: the relay runs on, memory-only (spool.connected = 0)")
tap.ok(2 <= fails <= 12, "retried with backoff: %d refusals in ~4 s "
       "(reconnect-max 1s)" % fails)
tap.eq(st(rc, "points.queued"), 1000, "it holds the 1,000 points in memory")
log = rc.logtext()
tap.ok(log.count("authentication refused") == 1, "one clear log line for the run of %d "
       "refusals" % fails, [ln for ln in log.splitlines() if "redis" in ln][-4:])
tap.ok("WRONGPASS" in log and "check [redis] username and password" in log,
       "it says what Redis said and what to check")
rc.write_conf([("vm", "127.0.0.1:%d" % vm_port)], relay={"reconnect-max": "1s"},
              redis_opts={"spool-flush-interval": "50ms", "password": PW})
rc.reload()
h.wait_until(lambda: st(rc, "spool.connected") == 1, 15, what="spool connected after SIGHUP")
tap.ok(True, "password fixed by SIGHUP: the spool connects")
tap.ok("reload: [redis] password changed (not shown)" in rc.logtext(),
       "the reload says the password changed, not what it is")
tap.ok("authentication accepted again" in rc.logtext(), "and that Redis took it")

# ---- Sentinels with a password ----------------------------------------------------------
sport = h.free_port()
sdir = sub("sentinel")
with open(os.path.join(sdir, "sentinel.conf"), "w") as f:
    f.write("port %d\nbind 127.0.0.1\ndir %s\ndaemonize no\nrequirepass %s\n"
            "sentinel monitor m1 127.0.0.1 %d 1\nsentinel auth-pass m1 %s\n"
            % (sport, sdir, SPW, r1.port, PW))
binary = shutil.which("redis-sentinel")
h.spawn([binary, os.path.join(sdir, "sentinel.conf")] if binary else
        ["redis-server", os.path.join(sdir, "sentinel.conf"), "--sentinel"],
        os.path.join(sdir, "sentinel.log"))
h.wait_until(lambda: h.Relay._can_connect(sport), 15, what="sentinel up")
sopts = {"sentinels": "127.0.0.1:%d" % sport, "master-name": "m1", "password": PW}
rd = relay("sent", r1, dict(sopts, **{"sentinel-password": SPW}))
md = "it.rauth.sent.r%d" % RUN
h.wait_until(lambda: st(rd, "spool.connected") == 1, 20, what="spool through the Sentinel")
tap.ok(True, "Sentinel with a password: the master it names is used")
tap.eq(send(rd, md, 500), 0, "500 points sent through it")
h.wait_until(lambda: spool_len(r1, rd) > 0, 20, what="entries in its spool")
tap.ok(True, "... and spooled into the master")
re_ = relay("sentwrong", r1, dict(sopts, **{"sentinel-password": WRONG}))
h.wait_until(lambda: st(re_, "redis.auth_failures", "server=sentinel") >= 1, 15,
             what="sentinel auth failure")
tap.ok(st(re_, "spool.connected") == 0, "a wrong sentinel-password: counted as "
       "redis.auth_failures{server=sentinel}, the spool stays down")
tap.ok("authentication refused" in re_.logtext(), "and logged")

# ---- the TSD comes up: everything arrives ------------------------------------------------
vm = h.Victoria(base, telnet=vm_port).start()
for m, n in ((ma, 3000), (mb, 3000), (mc, 1000), (md, 500)):
    tap.eq(vm.wait_count(m, n, timeout=60, settle=0.5), n, "%s: all %d arrived" % (m, n))
h.wait_until(lambda: spool_len(r1, ra) == 0 and spool_len(r2, rb) == 0, 20,
             what="spools drained")
tap.ok(True, "both spools drained (the ACL user read and deleted its entries)")
tap.ok("NOPERM" not in rb.logtext(), "the ACL user was never refused a command")

# ---- the ACL user keeps the points a backend refuses, and replays them ---------------------
tsd = h.FakeHttpTsd(sub("fakehttp")).start()
tsd.config(unknown_prefix="it.rauth.nometric")
rf = h.Relay(base, [("tsd", "127.0.0.1:%d" % tsd.port, {
                 "protocol": "http", "http-address": "127.0.0.1:%d" % tsd.port,
                 "http-batch": "20"})],
             redis=r2, name="rejacl", instance="rejacl",
             redis_opts={"username": USER, "password": UPW, "rejected-max-bytes": "6K"})
relays.append(rf)
rf.start()
h.wait_until(lambda: st(rf, "spool.connected") == 1, 15, what="the ACL user's spool")
bad = "".join("put it.rauth.nometric.r%d %d %d host=h%d\n" % (RUN, T0 + i, i, i)
              for i in range(60))
s = socket.create_connection(("127.0.0.1", rf.port))
s.sendall(bad.encode())
s.close()
h.wait_until(lambda: st(rf, "rejected.kept") + st(rf, "rejected.unkept") >= 60, 20,
             what="60 refusals kept or not")
tap.eq((st(rf, "rejected.kept"), st(rf, "rejected.unkept")), (60, 0),
       "the ACL user keeps the 60 points the backend refused for good")
rkey = "%s:rejacl:rejected:tsd" % PREFIX
dropped = st(rf, "rejected.dropped")
tap.ok(dropped > 0 and int(r2.cmd("LLEN", rkey)) == 60 - dropped,
       "the scripts' LPOP past rejected-max-bytes ran too (%d dropped)" % dropped)
tsd.config(unknown_prefix="no.such.prefix")
code, _, _ = h.http_req("http://127.0.0.1:%d/tsrelay/rejected/replay?backend=tsd" % rf.port,
                        b"", "POST")
h.wait_until(lambda: st(rf, "rejected.replayed") == 60 - dropped, 20, what="replayed")
h.wait_until(lambda: r2.cmd("LLEN", rkey) == "0", 20, what="the list trimmed")
tap.ok(code == 202 and r2.cmd("GET", rkey + ":bytes") == "0",
       "replayed by the ACL user: the list trimmed by its script, the byte count 0")
tap.ok("NOPERM" not in rf.logtext() and "can't run this command" not in rf.logtext(),
       "the ACL user was never refused a command or a script's command")

# ---- secrets -------------------------------------------------------------------------------
blobs = {}
for r in relays:
    for path in ("/metrics", "/api/stats", "/tsrelay/", "/tsrelay/tables"):
        blobs["%s %s" % (r.name, path)] = h.http_get("http://127.0.0.1:%d%s" % (r.port, path))[1]
check = subprocess.run([h.TSRELAY, "-t", "-c", rd.conf], capture_output=True, timeout=20)
blobs["tsrelay -t"] = check.stdout + check.stderr
tap.ok(check.returncode == 0, "tsrelay -t passes the Sentinel relay's file")
for r in relays:
    tap.eq(r.stop(), 0, "relay %s stops cleanly" % r.name)
    blobs[r.name + " log"] = r.logtext()
# the new-series guard's snapshot logs in as the spool does (requirepass, the
# ACL user, the Sentinels' password): written on the way out, not refused
for r in (ra, rb, rd):
    tap.ok("snapshot of the new-series guard written to" in r.logtext() and
           "refused the login" not in r.logtext(),
           "relay %s: the guard's snapshot was written through the login" % r.name)
tu.secrets_absent(tap, SECRETS, blobs, "logs, /metrics, /api/stats, status pages and -t")
tap.done()
