#!/bin/sh
# install-deps.sh -- installs, from Debian's packages, everything tsrelay
# needs to build, run and be tested.  Used by quickstart.sh and test.sh.
#   deploy/install-deps.sh [run|test]
set -eu
what=${1:-test}
SUDO=
if [ "$(id -u)" != 0 ]; then SUDO=sudo; fi

# libjs-dygraphs: the status page's charts, compiled in when found;
# libc-ares-dev: host names resolved without blocking the loop;
# libssl-dev: TLS on listeners and to backends (OpenSSL 3);
# libpcre2-dev: the rules' patterns ([rule] match and tag)
build="build-essential autoconf automake libtool pkg-config
       libev-dev libhiredis-dev libinih-dev libyajl-dev libhttp-parser-dev
       libxxhash-dev libzstd-dev zlib1g-dev libsystemd-dev libjs-dygraphs
       libc-ares-dev libssl-dev libpcre2-dev"
run="redis-server redis-tools victoria-metrics curl ca-certificates procps"
# check: unit tests; python3: integration tests; valgrind: leak checks;
# clang + libclang-rt: libFuzzer targets; prometheus: promtool for /metrics;
# man-db + groff-base: the man pages render without warnings; systemd:
# systemd-analyze verify and pkg-config's systemdsystemunitdir (the unit
# install); debhelper + dpkg-dev: the Debian package (tests/deb.sh), which
# lintian checks, and whose logrotate snippet logrotate checks; chromium: the
# status page's browser test (driven over its DevTools pipe from Python: no npm, no download);
# redis-sentinel: the Sentinel failover tests (test_sentinel.py, test_fleet.py);
# haproxy: the scale-out recipe's front (deploy/scale-out/, test_fleet.py) and
# the TLS-terminating proxy in front of victoria-metrics (test_tls_backend.py);
# openssl: the TLS tests' CAs and certificates, made at run time, and s_client
test="check libjansson-dev python3 valgrind clang libclang-rt-14-dev prometheus iproute2
      man-db groff-base systemd debhelper dpkg-dev logrotate lintian chromium redis-sentinel
      haproxy openssl"

pkgs="$build $run"
[ "$what" = test ] && pkgs="$pkgs $test"

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $pkgs >/dev/null
# Debian starts these as services where systemd runs; the tests and the
# quickstart run their own instances on other ports, so that is harmless.
