#!/usr/bin/env bash
# The Debian package, installed for real: build it (or take the .deb given
# as $1), run lintian, then, as root on a machine with dpkg:
#   (a) fresh install: user, directories, certificates, the daemon started
#       as the unit starts it, one record over TCP and one over mutual TLS
#       with a certificate from loghog-client-cert, modes and owners, a
#       reinstall that changes nothing, purge (logs kept);
#   (b) install over the original LogHog's /etc/loghogd with its X.509 v1
#       certificates: the CA key kept, plain and TLS listeners working for
#       clients holding the old CA file, an old client certificate refused
#       with advice in the internal log, purge.
# The machine's loghogd state (package, /etc/loghogd, /var/lib/loghogd,
# /var/log/loghogd) is replaced, so this runs only where none exists or
# LOGHOG_DEB_TEST_REPLACE=1 says it may (CI). Every wait has a deadline;
# everything started is stopped by pid on every exit path.
set -euo pipefail
cd "$(dirname "$0")/.."

APP=debtest
CONF=/etc/loghogd/loghogd.conf
CERTS=/etc/loghogd/certs
LOGDIR=/var/log/loghogd
INTERNAL_LOG=$LOGDIR/loghogd.log
DEADLINE=20

passed=0
failed=0
ok() {
    echo "ok - $*"
    passed=$((passed + 1))
}
not_ok() {
    echo "FAIL - $*"
    failed=$((failed + 1))
    # What the daemon said meanwhile, to tell a slow machine from a bug.
    if [ -n "${daemon_pid:-}" ] && [ -s "$INTERNAL_LOG" ]; then
        echo "  the daemon's log since it started (last 20 lines):"
        new_log | tail -20 | sed 's/^/  | /'
    fi
}
# check DESCRIPTION COMMAND...: one assertion.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
summary() {
    echo "test-deb: $passed passed, $failed failed"
    [ "$failed" -eq 0 ]
}
skip() {
    echo "test-deb: SKIP: $*"
    summary
    exit 0
}
# wait_for SECONDS COMMAND...: poll until COMMAND succeeds, returns 2
# (give up now), or time is up.
wait_for() {
    local end=$((SECONDS + $1)) rc
    shift
    while true; do
        rc=0
        "$@" || rc=$?
        [ "$rc" -ne 0 ] || return 0
        [ "$rc" -ne 2 ] && [ "$SECONDS" -lt "$end" ] || return 1
        sleep 0.2
    done
}

deb=${1:-}
if [ -z "$deb" ]; then
    scripts/package-deb.sh
    debs=(target/debian/loghogd_*_amd64.deb) # package-deb.sh leaves one
    deb=${debs[0]}
fi
[ -f "$deb" ] || {
    echo "test-deb: no package $deb" >&2
    exit 1
}
deb=$(realpath "$deb")
echo "test-deb: testing $deb"

# Static checks of the package itself.
contents=$(dpkg-deb --contents "$deb")
for path in ./usr/sbin/loghogd ./usr/bin/loghog ./usr/bin/loghog-server-cert \
    ./usr/bin/loghog-client-cert ./etc/loghogd/loghogd.conf ./etc/loghogd/facilities.conf \
    ./usr/share/man/man8/loghogd.8.gz ./usr/share/man/man1/loghog.1.gz \
    ./usr/share/man/man1/loghog-server-cert.1.gz ./usr/share/man/man1/loghog-client-cert.1.gz \
    ./usr/lib/sysusers.d/loghogd.conf ./usr/lib/tmpfiles.d/loghogd.conf \
    ./usr/share/doc/loghogd/copyright ./usr/share/doc/loghogd/changelog.Debian.gz; do
    check "package contains $path" grep -q " $path\$" <<<"$contents"
done
check "package contains the systemd unit" grep -q "/lib/systemd/system/loghogd.service\$" <<<"$contents"
conffiles=$(dpkg-deb --ctrl-tarfile "$deb" | tar -xOf - ./conffiles)
check "loghogd.conf is a conffile" grep -qx /etc/loghogd/loghogd.conf <<<"$conffiles"
check "facilities.conf is a conffile" grep -qx /etc/loghogd/facilities.conf <<<"$conffiles"

if command -v lintian >/dev/null 2>&1; then
    echo "test-deb: lintian (errors fail the test; warnings are listed)"
    if lintian --fail-on error "$deb"; then
        ok "lintian reports no errors"
    else
        not_ok "lintian reports errors"
    fi
else
    echo "test-deb: lintian not installed: package not linted"
fi

[ "$(id -u)" -eq 0 ] || skip "install tests need root"
command -v dpkg >/dev/null 2>&1 || skip "install tests need dpkg"
command -v python3 >/dev/null 2>&1 || skip "install tests need python3 (the TLS client)"
command -v openssl >/dev/null 2>&1 || skip "install tests need openssl (the original's certificates)"
if [ "${LOGHOG_DEB_TEST_REPLACE:-}" != 1 ]; then
    for p in /etc/loghogd /var/lib/loghogd "$LOGDIR"; do
        [ ! -e "$p" ] || skip "$p exists; set LOGHOG_DEB_TEST_REPLACE=1 to let this test replace it"
    done
    if dpkg-query -W -f '${Status}' loghogd 2>/dev/null | grep -q installed; then
        skip "loghogd is installed; set LOGHOG_DEB_TEST_REPLACE=1 to let this test purge it"
    fi
fi

# One run at a time on a machine.
exec 9>/run/lock/loghogd-test-deb.lock
flock -w 600 9 || {
    echo "test-deb: another test-deb.sh holds /run/lock/loghogd-test-deb.lock" >&2
    exit 1
}

tmp=$(mktemp -d)
daemon_pid=
stop_daemon() {
    if [ -n "$daemon_pid" ] && kill -0 "$daemon_pid" 2>/dev/null; then
        kill -TERM "$daemon_pid" 2>/dev/null || true
        local end=$((SECONDS + 30))
        while kill -0 "$daemon_pid" 2>/dev/null && [ "$SECONDS" -lt "$end" ]; do
            sleep 0.1
        done
        kill -KILL "$daemon_pid" 2>/dev/null || true
    fi
    if [ -n "$daemon_pid" ]; then
        wait "$daemon_pid" 2>/dev/null || true
    fi
    daemon_pid=
}
purge() {
    dpkg --purge loghogd >"$tmp/purge.out" 2>&1 || {
        cat "$tmp/purge.out"
        return 1
    }
}
cleanup() {
    stop_daemon
    if dpkg-query -W -f '${Status}' loghogd 2>/dev/null | grep -q installed; then
        purge || true
    fi
    rm -rf /etc/loghogd /var/lib/loghogd "$LOGDIR" "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for port in 5566 5577; do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "test-deb: 127.0.0.1:$port is in use (a running loghogd?); stop it first" >&2
        exit 1
    fi
done

# The daemon exactly as the unit starts it: root, in the foreground; it
# drops to loghog itself. Readiness: "loghogd started" in its own log,
# after the offset the log had before.
start_daemon() {
    log_offset=$(stat -c %s "$INTERNAL_LOG" 2>/dev/null || echo 0)
    /usr/sbin/loghogd --foreground -c "$CONF" >"$tmp/daemon.out" 2>&1 &
    daemon_pid=$!
    if wait_for "$DEADLINE" started; then
        ok "loghogd started (pid $daemon_pid)"
    else
        not_ok "loghogd did not start within ${DEADLINE}s"
        cat "$tmp/daemon.out"
        return 1
    fi
}
new_log() { tail -c +$((log_offset + 1)) "$INTERNAL_LOG" 2>/dev/null; }
started() {
    kill -0 "$daemon_pid" 2>/dev/null || return 2
    new_log | grep -q "loghogd started"
}
# A record over plain TCP with the packaged loghog command.
send_plain() { /usr/bin/loghog send --app "$1" --timeout 10 "$2"; }
# A record over mutual TLS as the 0.7 Python client connects: verify the
# server against the CA only, present the pem.
send_tls() {
    python3 - "$@" <<'EOF'
import json, socket, ssl, struct, sys, time
ca, pem, app, body = sys.argv[1:5]
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_REQUIRED
ctx.load_verify_locations(ca)
ctx.load_cert_chain(pem)
now = time.time()
payload = json.dumps({"version": 1, "app_id": app, "module": "root",
                      "stamp": int(now), "nsecs": int(now % 1 * 1e9),
                      "hostname": socket.gethostname(), "body": body}).encode()
with socket.create_connection(("127.0.0.1", 5577), timeout=10) as raw:
    with ctx.wrap_socket(raw) as s:
        s.sendall(struct.pack(">II", len(payload), 0) + payload)
        try:
            s.unwrap()
        except OSError:
            pass
EOF
}
user_exists() { getent passwd loghog >/dev/null; }
group_exists() { getent group loghog >/dev/null; }
has_line() { grep -qF -- "$2" "$1" 2>/dev/null; }
mode_owner() { stat -c '%a %U:%G' "$1" 2>/dev/null; }
is() { [ "$1" = "$2" ] || { echo "  got '$1', expected '$2'"; return 1; }; }
verify_unit() {
    local unit out
    unit=$(dpkg -L loghogd | grep '/systemd/system/loghogd.service$')
    if out=$(systemd-analyze verify --man=no "$unit" 2>&1) && [ -z "$out" ]; then
        return 0
    fi
    echo "$out"
    return 1
}

echo "test-deb: (a) fresh install"
dpkg --purge loghogd >/dev/null 2>&1 || true
rm -rf /etc/loghogd /var/lib/loghogd "$LOGDIR" /run/loghogd
if dpkg -i "$deb" >"$tmp/install.out" 2>&1; then
    ok "dpkg -i"
else
    not_ok "dpkg -i"
    cat "$tmp/install.out"
    summary
    exit 1
fi
cat "$tmp/install.out"
check "user loghog exists" user_exists
check "group loghog exists" group_exists
check "user loghog has no login shell" \
    grep -q 'nologin$\|false$' <<<"$(getent passwd loghog)"
check "/var/lib/loghogd is 0750 loghog:loghog" is "$(mode_owner /var/lib/loghogd)" "750 loghog:loghog"
check "/var/log/loghogd is 0750 loghog:loghog" is "$(mode_owner "$LOGDIR")" "750 loghog:loghog"
check "/run/loghogd exists" test -d /run/loghogd
check "CA key is 0600 loghog" is "$(mode_owner $CERTS/loghog-ca.key)" "600 loghog:loghog"
check "server pem is 0600 loghog" is "$(mode_owner $CERTS/loghog-server.pem)" "600 loghog:loghog"
check "CA certificate is 0644" is "$(stat -c %a $CERTS/loghog-ca.cert)" 644
check "the unit is enabled (starts at boot)" \
    test -L /etc/systemd/system/multi-user.target.wants/loghogd.service
if [ ! -d /run/systemd/system ]; then
    check "postinst says how to start loghogd without systemd" \
        has_line "$tmp/install.out" "/usr/sbin/loghogd --daemon -c /etc/loghogd/loghogd.conf"
fi
if command -v systemd-analyze >/dev/null 2>&1; then
    check "systemd-analyze verify accepts the installed unit silently" verify_unit
else
    echo "test-deb: systemd-analyze not installed: unit not verified"
fi
check "the installed configuration passes --check-config" \
    /usr/sbin/loghogd --check-config -c "$CONF"

# A reinstall keeps the certificates as they are.
sha_before=$(cd $CERTS && sha256sum loghog-ca.key loghog-ca.cert loghog-server.pem)
if dpkg -i "$deb" >"$tmp/reinstall.out" 2>&1; then ok "reinstall"; else
    not_ok "reinstall"
    cat "$tmp/reinstall.out"
fi
check "reinstall leaves the certificates unchanged" \
    is "$(cd $CERTS && sha256sum loghog-ca.key loghog-ca.cert loghog-server.pem)" "$sha_before"
check "reinstall keeps the key modes" is "$(mode_owner $CERTS/loghog-server.pem)" "600 loghog:loghog"

(cd "$tmp" && loghog-client-cert "$APP-client" "$CERTS" >/dev/null) || true
check "loghog-client-cert made a client pem" test -s "$tmp/$APP-client.pem"
if start_daemon; then
    log=$LOGDIR/$APP/root.log
    check "loghogd runs as loghog after dropping privileges" \
        is "$(awk '/^Uid:/ {print $2}' "/proc/$daemon_pid/status")" "$(id -u loghog)"
    # An app added as an admin would: edit facilities.conf, then reload
    # (the unit's ExecReload sends SIGHUP).
    printf '\n[%s]\nrotate = daily\nbackup_count = 2\n' "$APP" >>/etc/loghogd/facilities.conf
    kill -HUP "$daemon_pid"
    reloaded() { new_log | grep -q "facilities reloaded"; }
    check "SIGHUP reloads facilities.conf" wait_for "$DEADLINE" reloaded
    tcp_body="fresh install over TCP $$"
    tls_body="fresh install over TLS $$"
    check "loghog send over TCP" send_plain "$APP" "$tcp_body"
    check "a record over TLS with a loghog-client-cert certificate" \
        send_tls $CERTS/loghog-ca.cert "$tmp/$APP-client.pem" "$APP" "$tls_body"
    check "the TCP record is written" wait_for "$DEADLINE" has_line "$log" " - $tcp_body"
    check "the TLS record is written" wait_for "$DEADLINE" has_line "$log" " - $tls_body"
    check "the app's log file is 0640 loghog" is "$(mode_owner "$log")" "640 loghog:loghog"
    check "the app's log directory is 0750 loghog" is "$(mode_owner "$LOGDIR/$APP")" "750 loghog:loghog"
    stop_daemon
fi
check "purge" purge
check "purge removes /etc/loghogd" test ! -e /etc/loghogd
check "purge removes /var/lib/loghogd" test ! -e /var/lib/loghogd
check "purge removes /run/loghogd" test ! -e /run/loghogd
check "purge keeps the logs" test -s "$LOGDIR/$APP/root.log"
check "purge keeps the user loghog" user_exists
check "purge disables the unit" \
    test ! -e /etc/systemd/system/multi-user.target.wants/loghogd.service

echo "test-deb: (b) install over the original LogHog's /etc/loghogd"
rm -rf /etc/loghogd /var/lib/loghogd "$LOGDIR" /run/loghogd
mkdir -p $CERTS
cat >/etc/loghogd/loghogd.conf <<'EOF'
[main]
daemon = yes
user = loghog
workdir = /var/lib/loghogd
logdir = /var/log/loghogd
rundir = /var/run/loghogd
pidfile = /var/run/loghogd/loghogd.pid
facilities_config = /etc/loghogd/facilities.conf

[log]
filename = /var/log/loghogd/loghogd.log
backup_count = 14
when = midnight
level = INFO

[compressor]
format = xz
level = 6

[server]
listen_ipv4 = 127.0.0.1
listen_ipv6 = [::1]
default_port = 5566
listen_ipv4_ssl = 127.0.0.1
listen_ipv6_ssl =
default_port_ssl = 5577
pemfile = /etc/loghogd/certs/loghog-server.pem
cacert = /etc/loghogd/certs/loghog-ca.cert
EOF
printf '[%s]\nrotate = daily\nbackup_count = 14\n' "$APP" >/etc/loghogd/facilities.conf
# The certificates as the original's scripts made them (RSA-2048, SHA-256,
# `openssl x509 -req` without extensions, hence X.509 v1).
if sh packaging/tests/original-pki.sh $CERTS 2048; then
    mv $CERTS/client.pem "$tmp/old-client.pem"
else
    not_ok "openssl could not make the original's certificates"
fi
for cert in $CERTS/loghog-ca.cert $CERTS/loghog-server.pem "$tmp/old-client.pem"; do
    check "the original-style $(basename "$cert") is X.509 v1" \
        grep -q 'Version: 1 (0x0)' <<<"$(openssl x509 -noout -text -in "$cert")"
done
cp $CERTS/loghog-ca.key "$tmp/old-ca.key"
cp $CERTS/loghog-ca.cert "$tmp/old-ca.cert"

# --force-confold: dpkg keeps the admin's loghogd.conf and facilities.conf
# (files it does not know yet) instead of asking, as an unattended upgrade
# would; the package's versions land beside them as *.dpkg-dist.
if dpkg -i --force-confold "$deb" >"$tmp/upgrade.out" 2>&1; then
    ok "dpkg -i over the original's /etc/loghogd"
else
    not_ok "dpkg -i over the original's /etc/loghogd"
fi
cat "$tmp/upgrade.out"
check "the admin's loghogd.conf is kept" grep -q '^daemon = yes' $CONF
check "the CA key is byte-identical" cmp $CERTS/loghog-ca.key "$tmp/old-ca.key"
check "the CA certificate is now X.509 v3" \
    grep -q 'Version: 3 (0x2)' <<<"$(openssl x509 -noout -text -in $CERTS/loghog-ca.cert)"
check "the CA key is 0600 loghog" is "$(mode_owner $CERTS/loghog-ca.key)" "600 loghog:loghog"
check "the server pem is 0600 loghog" is "$(mode_owner $CERTS/loghog-server.pem)" "600 loghog:loghog"
old_pems=("$CERTS"/loghog-server.pem.old-*)
check "the replaced server pem (a private key) is kept aside, 0600 loghog" \
    is "$(mode_owner "${old_pems[0]}")" "600 loghog:loghog"
(cd "$tmp" && loghog-client-cert "$APP-new" >/dev/null) || true
check "loghog-client-cert finds the CA in /etc/loghogd/certs" test -s "$tmp/$APP-new.pem"
if start_daemon; then
    log=$LOGDIR/$APP/root.log
    tcp_body="upgrade over TCP $$"
    tls_body="upgrade over TLS, old CA file $$"
    old_body="upgrade over TLS, old client certificate $$"
    check "loghog send over TCP" send_plain "$APP" "$tcp_body"
    check "the TCP record is written" wait_for "$DEADLINE" has_line "$log" " - $tcp_body"
    check "TLS with the OLD CA certificate file and a new client certificate" \
        send_tls "$tmp/old-ca.cert" "$tmp/$APP-new.pem" "$APP" "$tls_body"
    check "the TLS record is written" wait_for "$DEADLINE" has_line "$log" " - $tls_body"
    send_tls "$tmp/old-ca.cert" "$tmp/old-client.pem" "$APP" "$old_body" >/dev/null 2>&1 || true
    advice() { new_log | grep -c 'loghog-client-cert' | grep -qx 1; }
    check "the old v1 client certificate is refused with one line of advice" \
        wait_for "$DEADLINE" advice
    new_log | grep 'loghog-client-cert' || true
    check "that line names the reason (X.509 v1)" \
        grep -qiE 'v1|version' <<<"$(new_log | grep 'loghog-client-cert')"
    check "the record sent with the old client certificate is not written" \
        bash -c "! grep -qF -- ' - $old_body' '$log'"
    stop_daemon
fi
check "purge" purge
check "purge removes /etc/loghogd and its certificates" test ! -e /etc/loghogd
check "purge keeps the logs" test -s "$LOGDIR/$APP/root.log"

summary
