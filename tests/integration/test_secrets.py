"""Secrets stay secret in `tsrelay -t` and in start-up errors: -t warns
when the configuration holding a password, or a private key, is readable
by every user (naming the file and the fix) and is quiet at 0640; a key
that does not match its certificate, a password too long, a CA that is
not one: each error names the file or the key, never a secret's bytes.
A relay started with such files says the same in its log.  (About 3 s.)"""

import os
import random
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402
import tlsutil as tu  # noqa: E402

h.hard_timeout(60)
tap = h.Tap()
base = h.tmpdir()
certs = tu.Certs(base)
PW = "s3cret-%d" % random.randrange(1 << 30)
SPW = "s3nt-%d" % random.randrange(1 << 30)
secrets = certs.key_secrets() + [PW, SPW]
captured = {}


def conf(name, redis="", tls="", mode=0o640, listen="tls"):
    p = os.path.join(base, name + ".conf")
    with open(p, "w") as f:
        f.write("[relay]\nlisten = 127.0.0.1:%d auto %s\nlisten = 127.0.0.1:%d auto\n\n"
                "[backend tsd]\naddress = 127.0.0.1:1\n%s\n%s" % (
                    h.free_port(), listen, h.free_port(), redis, tls))
    os.chmod(p, mode)
    return p


def check(path):
    p = subprocess.run([h.TSRELAY, "-t", "-c", path], capture_output=True, timeout=20)
    out = (p.stdout + p.stderr).decode(errors="replace")
    captured["tsrelay -t %s" % os.path.basename(path)] = out
    return p.returncode, out


TLS = "[tls]\ncert = %s\nkey = %s\n" % (certs.path("server.pem"), certs.path("server.key"))
REDIS = ("[redis]\naddress = 127.0.0.1:1\npassword = %s\nsentinels = 127.0.0.1:2\n"
         "master-name = m\nsentinel-password = %s\n" % (PW, SPW))

path = conf("open", REDIS, TLS, mode=0o644)
rc, out = check(path)
tap.ok(rc == 0 and "holds a Redis password and is readable by every user (mode 0644)" in out
       and "chmod o-r %s" % path in out, "-t: a 0644 file with a password is warned about",
       out)
tap.ok("TLS listeners: certificate /CN=relay.test" in out, "-t loads the certificate and says "
       "which it is")
path = conf("closed", REDIS, TLS, mode=0o640)
rc, out = check(path)
tap.ok(rc == 0 and "warning" not in out, "-t: the same file at 0640 is not warned about", out)

os.chmod(certs.path("server.key"), 0o644)
rc, out = check(path)
tap.ok("%s holds the listeners' TLS private key and is readable by every user" %
       certs.path("server.key") in out, "-t: a key readable by every user is warned about", out)
os.chmod(certs.path("server.key"), 0o600)

bad = TLS.replace(certs.path("server.key"), certs.path("client.key"))
rc, out = check(conf("mismatch", tls=bad))
tap.ok(rc == 1 and "[tls] key %s" % certs.path("client.key") in out,
       "-t: a key that is not its certificate's: an error naming the key file", out)
rc, out = check(conf("notca", tls=TLS + "ca = %s\n" % certs.path("server.key")))
tap.ok(rc == 1 and "[tls] ca %s" % certs.path("server.key") in out,
       "-t: a CA file that holds a key: an error naming the file", out)
rc, out = check(conf("long", redis="[redis]\naddress = 127.0.0.1:1\npassword = %s\n" % (PW * 40),
                     listen=""))
tap.ok(rc == 1 and "[redis] password: value longer than 255 bytes" in out,
       "a password too long: the error names the key", out)
rc, out = check(conf("nocert", listen="tls"))
tap.ok(rc == 1 and "tls needs a certificate: [tls] cert and key" in out,
       "a TLS listener without [tls]: a clear error", out)
rc, out = check(conf("plainca", tls="", listen="", redis="") + "")
tap.eq(rc, 0, "a file without TLS or passwords checks as before")

# a relay started with the open file says it in its log
log = os.path.join(base, "open.log")
p = h.spawn([h.TSRELAY, "-c", os.path.join(base, "open.conf")], log)
h.wait_until(lambda: "started" in open(log).read(), 10, what="relay started")
p.terminate()
p.wait(timeout=20)
text = open(log).read()
captured["relay log"] = text
tap.ok("holds a Redis password and is readable by every user" in text,
       "the relay warns about it in its log at start")
tu.secrets_absent(tap, secrets, captured, "-t output, errors and the log")
tap.done()
