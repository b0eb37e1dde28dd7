#!/bin/sh
# deb.sh WORKDIR -- the Debian package as an operator meets it, one TAP
# line per check.  It needs root: it installs the package on this machine
# and purges it again (CI runs it from deploy/test.sh).
#   1. dpkg-buildpackage -us -uc -b in a copy of the source under WORKDIR
#      (the .deb lands there, not beside the source tree); the package's
#      own make check is skipped (nocheck): deploy/test.sh ran the suite
#   2. its contents and dependencies; lintian with no error or warning
#      (the overrides in debian/ say why each is there); a second build
#      from another directory gives the same bytes (reproducible: no
#      build date or path in the binary)
#   3. apt-get install ./tsrelay_*.deb (brings its Depends), the system
#      user, the conffiles, `tsrelay -t` with the shipped configuration,
#      systemd-analyze verify on the installed unit, logrotate -d on the
#      snippet, a reinstall that keeps a local edit of the conffile
#   4. remove (binary gone, conffile kept), purge (conffile and /etc/tsrelay
#      gone, dpkg forgets the package)
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
work=${1:?usage: tests/deb.sh WORKDIR}
SUDO=
[ "$(id -u)" = 0 ] || SUDO=sudo
n=0
failed=0

# check NAME CMD...: one TAP line for a command's exit status; its output
# (last lines) as diagnostics when it fails
check() {
    name=$1
    shift
    n=$((n + 1))
    if out=$("$@" 2>&1); then
        echo "ok $n - $name"
    else
        failed=$((failed + 1))
        echo "not ok $n - $name"
        printf '%s\n' "$out" | tail -n 20 | sed 's/^/# /'
    fi
}

rm -rf "$work" && mkdir -p "$work/src" || exit 1
# copy_source DIR: the source as committed plus new files, without builds
# or the .git
copy_source() {
    if git -C "$top" rev-parse --git-dir >/dev/null 2>&1; then
        (cd "$top" && git ls-files -z --cached --others --exclude-standard |
            tar --null --no-recursion -T - -cf -) | tar -C "$1" -xf -
    else
        tar -C "$top" --exclude=./.git --exclude='./build*' --exclude=./debian/build \
            -cf - . | tar -C "$1" -xf -
    fi
}
copy_source "$work/src" || exit 1

# ---- 1. build ---------------------------------------------------------------
# build DIR: dpkg-buildpackage in DIR/src, the .deb lands in DIR
build() {
    cd "$1/src" &&
        DEB_BUILD_OPTIONS="nocheck parallel=$(nproc)" \
            dpkg-buildpackage -us -uc -b -Pnocheck >"$1/build.log" 2>&1
    rc=$?
    cd "$top"
    [ $rc -eq 0 ] || { tail -n 30 "$1/build.log"; return 1; }
}
check "dpkg-buildpackage -us -uc -b builds the package" build "$work"
deb=$(ls "$work"/tsrelay_*.deb 2>/dev/null | head -n 1)
if [ -z "$deb" ]; then
    check "a .deb was written" false
    echo "1..$n"
    exit 1
fi

# ---- 2. what it holds -------------------------------------------------------
contents=$(dpkg-deb -c "$deb" | awk '{print $NF}')
holds() {
    for f in "$@"; do
        printf '%s\n' "$contents" | grep -qx "$f" || { echo "missing: $f"; return 1; }
    done
}
check "the .deb holds the binary, conffile, man pages, unit and logrotate snippet" \
    holds ./usr/sbin/tsrelay ./etc/tsrelay/tsrelay.conf ./etc/logrotate.d/tsrelay \
    ./usr/share/man/man8/tsrelay.8.gz ./usr/share/man/man5/tsrelay.conf.5.gz
unit_in_deb=$(printf '%s\n' "$contents" | grep -E '^\./(usr/)?lib/systemd/system/tsrelay\.service$')
check "the .deb holds the systemd unit (${unit_in_deb:-none})" test -n "$unit_in_deb"
depends=$(dpkg-deb -f "$deb" Depends)
check "Depends names adduser and the shared libraries (${depends})" \
    sh -c 'for d in adduser libev4 libhiredis libsystemd0 libzstd1; do
               printf "%s\n" "$1" | grep -q "$d" || { echo "no $d"; exit 1; }; done' sh "$depends"
check "the .deb holds its copyright file (tsrelay's and the embedded dygraphs')" \
    sh -c 'dpkg-deb --fsys-tarfile "$1" | tar -xOf - ./usr/share/doc/tsrelay/copyright |
           grep -q "^License: Expat"' sh "$deb"
built_using=$(dpkg-deb -f "$deb" Built-Using)
check "Built-Using names the libjs-dygraphs compiled in (${built_using})" \
    sh -c 'printf "%s\n" "$1" | grep -Eq "^dygraphs \(= [^)]+\)$"' sh "$built_using"
check "the binary holds the status page's charts (dygraphs)" \
    sh -c 'dpkg-deb --fsys-tarfile "$1" | tar -xOf - ./usr/sbin/tsrelay | grep -aq "Dygraph"' \
    sh "$deb"
# no E: or W: (I: and N: lines are information); an override must say why
lint() {
    out=$(lintian --fail-on error,warning "$work"/tsrelay_*.changes 2>&1)
    rc=$?
    printf '%s\n' "$out" | grep -v '^running with root privileges'
    [ $rc -eq 0 ] && ! printf '%s\n' "$out" | grep -Eq '^[EW]: '
}
check "lintian reports no error and no warning" lint
# the same source built again, from another directory: the same bytes
same_bytes() {
    rm -rf "$work/again" && mkdir -p "$work/again/src" && copy_source "$work/again/src" &&
        build "$work/again" || return 1
    again=$(ls "$work"/again/tsrelay_*.deb | head -n 1)
    mkdir -p "$work/root" "$work/again/root" && dpkg-deb -x "$deb" "$work/root" &&
        dpkg-deb -x "$again" "$work/again/root" || return 1
    cmp "$work/root/usr/sbin/tsrelay" "$work/again/root/usr/sbin/tsrelay" || return 1
    cmp "$deb" "$again" || {
        (cd "$work/root" && find . -type f -exec md5sum {} +) | sort -k2 >"$work/a.md5"
        (cd "$work/again/root" && find . -type f -exec md5sum {} +) | sort -k2 >"$work/b.md5"
        diff "$work/a.md5" "$work/b.md5"
        return 1
    }
    echo "$(basename "$deb"): $(md5sum <"$deb" | cut -c1-32) both times"
}
check "built twice, from two directories: byte-identical binary and .deb" same_bytes
# dpkg-buildpackage sets SOURCE_DATE_EPOCH, which gcc also uses for
# __DATE__/__TIME__; a plain build has neither crutch: no date macro may
# be used (the hardening flags warn), and two builds of the binary at
# different times give the same bytes
check "no -Wdate-time warning in the package's build" \
    sh -c '! grep -n "\[-Wdate-time\]" "$1"' sh "$work/build.log"
same_plain_binary() {
    rm -rf "$work/plain" && mkdir -p "$work/plain/src" && copy_source "$work/plain/src" &&
        (cd "$work/plain/src" && ./autogen.sh >/dev/null 2>&1) || return 1
    for i in 1 2; do
        (cd "$work/plain/src" && rm -rf b && mkdir b && cd b &&
            env -u SOURCE_DATE_EPOCH ../configure -q >/dev/null &&
            env -u SOURCE_DATE_EPOCH make -j"$(nproc)" src/tsrelay >/dev/null 2>&1 &&
            cp src/tsrelay "$work/plain/tsrelay.$i") || return 1
        sleep 2 # a build date or time would differ
    done
    cmp "$work/plain/tsrelay.1" "$work/plain/tsrelay.2"
}
check "configure && make, twice (no SOURCE_DATE_EPOCH): byte-identical tsrelay" same_plain_binary

# ---- 3. installed -------------------------------------------------------------
$SUDO dpkg --purge tsrelay >/dev/null 2>&1 # a leftover of an earlier run
check "apt-get install ./$(basename "$deb")" \
    $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$deb"
check "tsrelay is installed in /usr/sbin" test -x /usr/sbin/tsrelay
check "the installed tsrelay -t (no -c) passes with the shipped /etc/tsrelay/tsrelay.conf" \
    sh -c '/usr/sbin/tsrelay -t | grep -q "configuration /etc/tsrelay/tsrelay.conf is valid"'
conffiles=$(dpkg-query -W -f='${Conffiles}' tsrelay)
check "/etc/tsrelay/tsrelay.conf and /etc/logrotate.d/tsrelay are conffiles" \
    sh -c 'printf "%s\n" "$1" | grep -q "^ /etc/tsrelay/tsrelay.conf " &&
           printf "%s\n" "$1" | grep -q "^ /etc/logrotate.d/tsrelay "' sh "$conffiles"
# dpkg-statoverride --list prints the mode as octal digits without a
# leading 0 ("root tsrelay 640 /etc/...", dpkg 1.21), whatever --add was given
check "the configuration is root:tsrelay 0640 (it may hold a Redis password)" \
    sh -c 'stat -c "%U:%G %a" /etc/tsrelay/tsrelay.conf; dpkg-statoverride --list /etc/tsrelay/tsrelay.conf
           [ "$(stat -c "%U:%G %a" /etc/tsrelay/tsrelay.conf)" = "root:tsrelay 640" ] &&
           dpkg-statoverride --list /etc/tsrelay/tsrelay.conf |
               grep -Eqx "root tsrelay 0?640 /etc/tsrelay/tsrelay.conf"'
check "postinst created the system user tsrelay" \
    sh -c 'uid=$(getent passwd tsrelay | cut -d: -f3) && [ -n "$uid" ] && [ "$uid" -lt 1000 ] &&
           getent group tsrelay >/dev/null'
unit=$(ls /lib/systemd/system/tsrelay.service /usr/lib/systemd/system/tsrelay.service \
    2>/dev/null | head -n 1)
# systemd-analyze verify also runs `man` for Documentation=: a system that
# keeps no man pages (dpkg path-exclude) makes only that fail; tolerate it
# only there
verify() {
    [ -n "$unit" ] || { echo "no unit installed"; return 1; }
    out=$(systemd-analyze verify "$unit" 2>&1)
    rc=$?
    if [ ! -e /usr/share/man/man8/tsrelay.8.gz ]; then
        out=$(printf '%s\n' "$out" | grep -v "Command 'man tsrelay")
        rc=0
    fi
    printf '%s\n' "$out"
    [ $rc -eq 0 ] && [ -z "$(printf '%s' "$out" | tr -d '[:space:]')" ]
}
check "systemd-analyze verify accepts the installed unit ($unit)" verify
check "the unit runs /usr/sbin/tsrelay -c /etc/tsrelay/tsrelay.conf as Type=notify" \
    sh -c 'grep -qx "ExecStart=/usr/sbin/tsrelay -c /etc/tsrelay/tsrelay.conf" "$1" &&
           grep -qx "Type=notify" "$1" && grep -qx "User=tsrelay" "$1"' sh "$unit"
check "man finds tsrelay(8) and tsrelay.conf(5)" \
    sh -c '[ ! -e /usr/share/man/man8/tsrelay.8.gz ] ||
           { man -w 8 tsrelay && man -w 5 tsrelay.conf; } >/dev/null'
check "logrotate accepts /etc/logrotate.d/tsrelay" \
    sh -c 'logrotate -d /etc/logrotate.d/tsrelay 2>&1 | grep -iE "^error|error:" && exit 1; exit 0'
# a reinstall keeps the operator's edit of the conffile
edit() {
    $SUDO sh -c 'sed -i "s/^memory-limit = 128M/memory-limit = 256M/" /etc/tsrelay/tsrelay.conf' &&
        grep -qx "memory-limit = 256M" /etc/tsrelay/tsrelay.conf &&
        $SUDO env DEBIAN_FRONTEND=noninteractive dpkg -i "$deb" >/dev/null &&
        grep -qx "memory-limit = 256M" /etc/tsrelay/tsrelay.conf &&
        /usr/sbin/tsrelay -t >/dev/null
}
check "a reinstall keeps a local edit of /etc/tsrelay/tsrelay.conf" edit

# ---- 4. remove, purge -----------------------------------------------------------
check "apt-get remove tsrelay" $SUDO env DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq tsrelay
check "removed: the binary and the unit are gone, the conffile stays" \
    sh -c '[ ! -e /usr/sbin/tsrelay ] && [ ! -e "$1" ] && [ -f /etc/tsrelay/tsrelay.conf ]' sh "$unit"
check "apt-get purge tsrelay" $SUDO env DEBIAN_FRONTEND=noninteractive apt-get purge -y -qq tsrelay
check "purged: /etc/tsrelay and /etc/logrotate.d/tsrelay are gone, dpkg forgot the package" \
    sh -c '[ ! -e /etc/tsrelay ] && [ ! -e /etc/logrotate.d/tsrelay ] &&
           ! dpkg-query -W -f="\${Status}" tsrelay 2>/dev/null | grep -q "installed\|config-files" &&
           ! dpkg-statoverride --list /etc/tsrelay/tsrelay.conf >/dev/null'

echo "1..$n"
[ $failed -eq 0 ]
