"""tlsutil.py -- TLS scaffolding for the integration tests: certificates made
at run time with the openssl CLI in the test's temporary directory (never
committed), TLS clients (Python's ssl module, openssl s_client), HAProxy
terminating TLS in front of a backend, and the check that no secret of a
test's configuration shows in anything the test captured.

Certificates: one CA ("ca") with a server certificate for relay.test /
127.0.0.1 and tsd.test, a client certificate, and a second CA ("other")
with a client certificate of its own.  Keys are EC P-256 (fast to make and
to handshake); files are 0600 except where a test says otherwise.
"""

import os
import socket
import ssl
import struct
import subprocess
import time

import harness as h


def _openssl(args, cwd):
    out = subprocess.run(["openssl"] + args, cwd=cwd, capture_output=True, timeout=60)
    if out.returncode != 0:
        raise RuntimeError("openssl %s: %s" % (" ".join(args), out.stderr.decode()[-500:]))


def _key(d, name):
    _openssl(["genpkey", "-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256",
              "-out", name + ".key"], d)
    os.chmod(os.path.join(d, name + ".key"), 0o600)


def _ca(d, name, cn):
    _key(d, name)
    _openssl(["req", "-x509", "-new", "-key", name + ".key", "-out", name + ".pem",
              "-days", "30", "-subj", "/CN=" + cn], d)


def _cert(d, name, ca, cn, sans=None, client=False, days=30, serial=None):
    _key(d, name)
    _openssl(["req", "-new", "-key", name + ".key", "-out", name + ".csr", "-subj", "/CN=" + cn], d)
    ext = ["extendedKeyUsage=%s" % ("clientAuth" if client else "serverAuth")]
    if sans:
        ext.append("subjectAltName=" + ",".join(sans))
    with open(os.path.join(d, name + ".ext"), "w") as f:
        f.write("\n".join(ext) + "\n")
    args = ["x509", "-req", "-in", name + ".csr", "-CA", ca + ".pem", "-CAkey", ca + ".key",
            "-out", name + ".pem", "-days", str(days), "-extfile", name + ".ext"]
    args += ["-set_serial", str(serial)] if serial else ["-CAcreateserial"]
    _openssl(args, d)


class Certs:
    """A CA and its certificates (and another CA) in a directory of their own."""

    def __init__(self, base):
        self.dir = os.path.join(base, "certs")
        os.makedirs(self.dir, exist_ok=True)
        d = self.dir
        _ca(d, "ca", "tsrelay test CA")
        _ca(d, "other", "another CA")
        _cert(d, "server", "ca", "relay.test",
              ["DNS:relay.test", "DNS:tsd.test", "IP:127.0.0.1"], serial=1001)
        _cert(d, "client", "ca", "good client", client=True)
        _cert(d, "stranger", "other", "stranger", client=True)

    def path(self, name):
        return os.path.join(self.dir, name)

    def rotate(self, name="server", serial=2002):
        """A new certificate (new key, new serial) for the same names, into
        name.pem/name.key: what a certificate rotation leaves on disk."""
        tmp = name + "-next"
        _cert(self.dir, tmp, "ca", "relay.test",
              ["DNS:relay.test", "DNS:tsd.test", "IP:127.0.0.1"], serial=serial)
        for ext in (".pem", ".key"):
            os.replace(self.path(tmp + ext), self.path(name + ext))

    def pem_for_haproxy(self, name="server"):
        """Certificate and key in one file, as HAProxy's crt wants them."""
        p = self.path(name + "-haproxy.pem")
        with open(p, "w") as out:
            for ext in (".pem", ".key"):
                with open(self.path(name + ext)) as f:
                    out.write(f.read())
        os.chmod(p, 0o600)
        return p

    def key_secrets(self):
        """Every base64 line of every private key: what must never be printed."""
        out = []
        for fn in os.listdir(self.dir):
            if fn.endswith(".key"):
                with open(os.path.join(self.dir, fn)) as f:
                    out += [ln.strip() for ln in f if ln.strip() and "-----" not in ln
                            and len(ln.strip()) >= 16]
        return out


# ---- clients -----------------------------------------------------------------

def client_context(certs, cert=None, ca="ca.pem", minimum=None, maximum=None,
                   seclevel0=False):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(certs.path(ca))
    if cert:
        ctx.load_cert_chain(certs.path(cert + ".pem"), certs.path(cert + ".key"))
    if seclevel0:
        ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
    if minimum:
        ctx.minimum_version = minimum
    if maximum:
        ctx.maximum_version = maximum
    return ctx


def connect(ctx, port, host="127.0.0.1", name="relay.test", timeout=10):
    """A TLS connection whose handshake is done (raises ssl.SSLError if the
    relay refuses it)."""
    raw = socket.create_connection((host, port), timeout=timeout)
    try:
        s = ctx.wrap_socket(raw, server_hostname=name)
    except Exception:
        raw.close()
        raise
    return s


def refused(ctx, port, name="relay.test"):
    """True when the relay refuses the connection: the handshake fails, or
    the first read after it finds the connection closed (TLS 1.3 reports a
    refused client certificate only then)."""
    try:
        s = connect(ctx, port, name=name)
    except (ssl.SSLError, OSError):
        return True
    try:
        s.settimeout(5)
        s.sendall(b"version\n")
        return s.recv(4096) == b""
    except (ssl.SSLError, OSError):
        return True
    finally:
        s.close()


def read_until_closed(s, timeout=2.0):
    s.settimeout(timeout)
    data = b""
    try:
        while True:
            d = s.recv(65536)
            if not d:
                break
            data += d
    except (socket.timeout, ssl.SSLError, OSError):
        pass
    return data


def s_client(port, data, certs, extra=None, timeout=15, wait_close=True):
    """openssl s_client: sends data, waits for the relay to close (or the
    timeout; without wait_close it ends after sending), returns (exit code,
    stdout bytes, stderr text)."""
    args = ["openssl", "s_client", "-connect", "127.0.0.1:%d" % port, "-servername",
            "relay.test", "-CAfile", certs.path("ca.pem"), "-verify_return_error", "-quiet"]
    args += (["-ign_eof"] if wait_close else ["-no_ign_eof"]) + list(extra or [])
    p = subprocess.run(args, input=data, capture_output=True, timeout=timeout)
    return p.returncode, p.stdout, p.stderr.decode(errors="replace")


def frame(payload):
    if isinstance(payload, str):
        payload = payload.encode()
    return struct.pack(">I", len(payload)) + payload


# ---- HAProxy -------------------------------------------------------------------

class HAProxy:
    """HAProxy terminating TLS on a loopback port and passing the bytes on,
    in TCP mode, to a backend (victoria-metrics' telnet listener, or one of
    its HTTP listeners).  With client_ca, clients must show a certificate
    of that CA.  name: its directory (several may run side by side)."""

    def __init__(self, base, target_port, certs, client_ca=None, name="haproxy"):
        self.dir = os.path.join(base, name)
        os.makedirs(self.dir, exist_ok=True)
        self.port = h.free_port()
        self.conf = os.path.join(self.dir, "haproxy.cfg")
        self.log = os.path.join(self.dir, "haproxy.log")
        verify = ""
        if client_ca:
            verify = " verify required ca-file %s" % certs.path(client_ca)
        with open(self.conf, "w") as f:
            f.write("""global
    maxconn 256
defaults
    mode tcp
    timeout connect 5s
    timeout client 120s
    timeout server 120s
frontend tls_in
    bind 127.0.0.1:%d ssl crt %s%s
    default_backend tsd
backend tsd
    server tsd 127.0.0.1:%d
""" % (self.port, certs.pem_for_haproxy(), verify, target_port))
        self.proc = None

    def start(self):
        self.proc = h.spawn(["haproxy", "-db", "-f", self.conf], self.log)
        h.wait_until(lambda: h.Relay._can_connect(self.port), 15, what="haproxy listening")
        return self

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


# ---- secrets ---------------------------------------------------------------------

def secrets_absent(tap, secrets, blobs, what):
    """Checks that no secret string appears in any of blobs (name -> bytes or
    str): one TAP line naming where a secret showed, if one did."""
    found = []
    for name, blob in blobs.items():
        text = blob.decode("utf-8", "replace") if isinstance(blob, bytes) else str(blob)
        for s in secrets:
            if s and s in text:
                found.append("%s shows a secret (%d bytes starting %r)" % (name, len(s), s[:3]))
    return tap.ok(not found, "no password or key in %s (%d secrets, %d texts, %d bytes)" % (
        what, len(secrets), len(blobs), sum(len(b) for b in blobs.values())), "\n".join(found))


def wait_closed(sock, timeout):
    """Seconds until the peer closed the socket (None if it did not)."""
    t0 = time.time()
    sock.settimeout(0.2)
    while time.time() - t0 < timeout:
        try:
            d = sock.recv(4096)
            if not d:
                return time.time() - t0
        except socket.timeout:
            continue
        except (ssl.SSLError, OSError):
            return time.time() - t0
    return None
