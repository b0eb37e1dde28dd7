"""`make install` as an operator runs it: configure the source tree with
--prefix, --sysconfdir and --with-systemdsystemunitdir pointing into a
temporary directory, build (-O0, only what install needs) and install;
then check the layout (sbin, the configuration, the man pages, the unit
with this build's paths), that the installed `tsrelay -t` without -c
checks the installed file, that a second `make install` keeps a local
edit of the configuration, that the man pages render without warnings,
that `systemd-analyze verify` accepts the unit, and that `make uninstall`
removes everything but an edited configuration.  Everything is in one
temporary directory, removed at exit; every command has a time limit."""

import filecmp
import os
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(__file__))
import harness as h  # noqa: E402

h.hard_timeout(600)
tap = h.Tap()
src = os.path.abspath(h.TOP_SRCDIR)
if os.path.exists(os.path.join(src, "config.status")):
    # a source tree configured in place cannot host a second (VPATH) build
    print("1..0 # SKIP %s is configured in place; run the tests from a separate build "
          "directory" % src)
    sys.exit(0)

base = h.tmpdir("tsrelay-install-")
prefix = os.path.join(base, "prefix")
etc = os.path.join(base, "etc")
units = os.path.join(base, "units")
build = os.path.join(base, "build")
os.makedirs(build)
conf = os.path.join(etc, "tsrelay", "tsrelay.conf")
tsrelay = os.path.join(prefix, "sbin", "tsrelay")
man8 = os.path.join(prefix, "share", "man", "man8", "tsrelay.8")
man5 = os.path.join(prefix, "share", "man", "man5", "tsrelay.conf.5")
unit = os.path.join(units, "tsrelay.service")
shipped = os.path.join(src, "conf", "tsrelay.conf")
env = dict(os.environ, LC_ALL="C.UTF-8")


def run(args, timeout=300, cwd=build, extra_env=None):
    """(exit status, stdout + stderr); the status is None on a timeout."""
    try:
        p = subprocess.run(args, cwd=cwd, capture_output=True, timeout=timeout,
                           env=dict(env, **(extra_env or {})))
        return p.returncode, (p.stdout + p.stderr).decode("utf-8", "replace")
    except subprocess.TimeoutExpired as e:
        return None, "timed out after %d s: %s" % (timeout, e)


def tail(text, n=25):
    return "\n".join(text.splitlines()[-n:])


rc, out = run([os.path.join(src, "configure"), "--prefix=" + prefix, "--sysconfdir=" + etc,
               "--with-systemdsystemunitdir=" + units, "--disable-integration-tests",
               "CFLAGS=-O0"])
if not tap.ok(rc == 0, "configure with --prefix, --sysconfdir, --with-systemdsystemunitdir",
              tail(out)):
    tap.done()
rc, out = run(["make", "-j2", "install"], timeout=480)
if not tap.ok(rc == 0, "make install", tail(out)):
    tap.done()

# ---- the layout ------------------------------------------------------------
tap.ok(os.access(tsrelay, os.X_OK), "tsrelay is installed in $(sbindir)")
tap.ok(not os.path.exists(os.path.join(prefix, "bin", "tsrelay")), "and not in $(bindir)")
tap.ok(os.path.isfile(conf) and filecmp.cmp(conf, shipped, shallow=False),
       "$(sysconfdir)/tsrelay/tsrelay.conf is conf/tsrelay.conf")
tap.ok(os.path.isfile(man8) and os.path.isfile(man5), "tsrelay(8) and tsrelay.conf(5) installed")
unit_text = open(unit).read() if os.path.isfile(unit) else ""
tap.ok("ExecStart=%s -c %s\n" % (tsrelay, conf) in unit_text and
       "ExecReload=%s -t -c %s\n" % (tsrelay, conf) in unit_text and
       "/usr/sbin/" not in unit_text and " /etc/tsrelay" not in unit_text,
       "the unit in --with-systemdsystemunitdir names this build's paths", unit_text)
tap.ok("Type=notify" in unit_text and "WatchdogSec=" in unit_text,
       "the unit is Type=notify with a watchdog")

# ---- the built-in default -c is the installed file ---------------------------
rc, out = run([tsrelay, "-h"], timeout=10)
tap.ok(rc == 0 and "(default %s)" % conf in out, "tsrelay -h names the installed file", out)
rc, out = run([tsrelay, "-t"], timeout=10)
tap.ok(rc == 0 and conf in out and "is valid" in out,
       "the installed tsrelay -t, without -c, checks the installed file", out)

# ---- a second install keeps a local edit -----------------------------------
with open(conf) as f:
    text = f.read()
edited = text.replace("memory-limit = 128M", "memory-limit = 256M") + "; edited here\n"
tap.ok(edited.count("256M") == 1, "the test's edit applies (memory-limit = 128M is in the file)")
with open(conf, "w") as f:
    f.write(edited)
rc, out = run(["make", "install"], timeout=300)
tap.ok(rc == 0 and "keeping the existing" in out, "make install again", tail(out))
tap.ok(open(conf).read() == edited, "the local edit of tsrelay.conf is kept")
rc, out = run([tsrelay, "-t"], timeout=10)
tap.ok(rc == 0, "the edited file still checks", out)

# ---- the man pages render without warnings ----------------------------------
for page in (man8, man5):
    name = os.path.basename(page)
    # the page is read from stdout, groff's and man's complaints from stderr
    # (the page's own text may say "warning")
    p = subprocess.run(["man", "--warnings", "-l", page], cwd=base, capture_output=True,
                       timeout=60, env=dict(env, MANWIDTH="80", MANPAGER="cat", PAGER="cat"))
    page_text = p.stdout.decode("utf-8", "replace")
    complaints = p.stderr.decode("utf-8", "replace")
    title = "TSRELAY(8)" if name.endswith(".8") else "TSRELAY.CONF(5)"
    lines = page_text.splitlines()
    tap.ok(p.returncode == 0 and lines and title in lines[0] and complaints.strip() == "",
           "man -l %s renders, no warnings" % name, complaints or tail(page_text, 10))
    rc, out = run(["groff", "-ww", "-man", "-z", page], timeout=60, cwd=base)
    tap.ok(rc == 0 and out.strip() == "", "groff -ww -man -z %s: no warnings" % name, out)

# ---- systemd accepts the unit -----------------------------------------------
if shutil.which("systemd-analyze"):
    # Documentation=man:... is looked up with man: point it at the prefix
    rc, out = run(["systemd-analyze", "verify", unit], timeout=60, cwd=base,
                  extra_env={"MANPATH": os.path.join(prefix, "share", "man")})
    tap.ok(rc == 0 and out.strip() == "", "systemd-analyze verify accepts the installed unit",
           out)
else:
    tap.ok(False, "systemd-analyze verify (package systemd) is installed")

# ---- uninstall ----------------------------------------------------------------
rc, out = run(["make", "uninstall"], timeout=120)
tap.ok(rc == 0, "make uninstall", tail(out))
tap.ok(not any(os.path.exists(p) for p in (tsrelay, man8, man5, unit)),
       "the binary, the man pages and the unit are gone")
tap.ok(open(conf).read() == edited if os.path.exists(conf) else False,
       "the edited tsrelay.conf stays")
shutil.copyfile(shipped, conf)
rc, out = run(["make", "uninstall"], timeout=120)
tap.ok(rc == 0 and not os.path.exists(os.path.dirname(conf)),
       "an unedited tsrelay.conf goes, with its directory", tail(out))
left = [os.path.join(d, f) for root in (prefix, etc, units) for d, _, fs in os.walk(root)
        for f in fs]
tap.ok(not left, "nothing is left in the prefix", "\n".join(left))
tap.done()
