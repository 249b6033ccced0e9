#!/usr/bin/env bash
# Builds the Debian package: target/debian/loghogd_<version>_amd64.deb.
#
#   scripts/package-deb.sh            # release build, stage, dpkg-deb
#   sudo dpkg -i target/debian/loghogd_*.deb
#
# Built with dpkg-deb from a staged tree rather than with cargo-deb: it needs
# nothing installed from crates.io (dpkg-deb is on every Debian machine),
# and the maintainer scripts, conffiles and file modes are ours to write and
# review in packaging/debian/, not generated. What goes where:
#   packaging/etc/loghogd/     -> /etc/loghogd/ (conffiles)
#   packaging/systemd/         -> the systemd unit directory
#   packaging/sysusers.d/, packaging/tmpfiles.d/ -> /usr/lib/...
#   packaging/man/             -> /usr/share/man/ (gzip -9n)
#   packaging/debian/          -> maintainer scripts, copyright, changelog
# The version is the workspace's (Cargo.toml) with Debian revision 1.
set -euo pipefail
cd "$(dirname "$0")/.."

die() {
    echo "package-deb: $*" >&2
    exit 1
}
for tool in cargo dpkg-deb gzip strip install md5sum; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is needed"
done

# The first version = "…" after [workspace.package].
version=$(sed -n '/^\[workspace\.package\]/,/^\[/s/^version *= *"\([^"]*\)".*/\1/p' Cargo.toml | head -1)
[ -n "$version" ] || die "no [workspace.package] version in Cargo.toml"
# Epoch 1: the original LogHog's packages were named loghogd too, with
# versions up to 0.7, above this 0.1; the epoch makes installing this one
# an upgrade for dpkg and apt. File names leave the epoch out (Debian practice).
file_version="${version}-${LOGHOG_DEB_REVISION:-1}"
deb_version="1:${file_version}"
arch=amd64
[ "$(dpkg --print-architecture 2>/dev/null || echo amd64)" = "$arch" ] ||
    die "this script packages for $arch only"

echo "package-deb: building loghogd $deb_version (release)"
cargo build --release --locked -p loghog-daemon -p loghog-cli

# Reproducible timestamps: the last commit's time (dpkg-deb clamps to it).
# Set after the build: C build scripts rebuild when it changes.
if [ -z "${SOURCE_DATE_EPOCH:-}" ]; then
    SOURCE_DATE_EPOCH=$(git log -1 --format=%ct 2>/dev/null || date +%s)
fi
export SOURCE_DATE_EPOCH

out=target/debian
stage="$out/stage"
rm -rf "$stage"
mkdir -p "$stage/DEBIAN"
umask 022

# Binaries, stripped (the release profile keeps line tables for backtraces
# in development; the package does not need them).
install -D -m 0755 target/release/loghogd "$stage/usr/sbin/loghogd"
for bin in loghog loghog-server-cert loghog-client-cert; do
    install -D -m 0755 "target/release/$bin" "$stage/usr/bin/$bin"
done
strip --strip-unneeded --remove-section=.comment --remove-section=.note \
    "$stage/usr/sbin/loghogd" "$stage"/usr/bin/loghog*

# Configuration: every file under /etc is a conffile, so an admin's edits
# survive upgrades.
install -D -m 0644 packaging/etc/loghogd/loghogd.conf "$stage/etc/loghogd/loghogd.conf"
install -D -m 0644 packaging/etc/loghogd/facilities.conf "$stage/etc/loghogd/facilities.conf"
install -D -m 0644 packaging/etc/loghogd/certs/README "$stage/etc/loghogd/certs/README"
grep -q '^listen_ipv4_ssl = 127\.0\.0\.1$' "$stage/etc/loghogd/loghogd.conf" ||
    die "the shipped loghogd.conf must listen with TLS on 127.0.0.1"

# systemd: the unit where this Debian release wants it (/lib/systemd/system
# before the /usr merge completed, /usr/lib/systemd/system after).
unitdir=$(pkg-config --variable=systemdsystemunitdir systemd 2>/dev/null || true)
[ -n "$unitdir" ] || unitdir=/lib/systemd/system
install -D -m 0644 packaging/systemd/loghogd.service "$stage$unitdir/loghogd.service"
install -D -m 0644 packaging/sysusers.d/loghogd.conf "$stage/usr/lib/sysusers.d/loghogd.conf"
install -D -m 0644 packaging/tmpfiles.d/loghogd.conf "$stage/usr/lib/tmpfiles.d/loghogd.conf"

# Manual pages.
for page in packaging/man/*.[1-8]; do
    section=${page##*.}
    name=$(basename "$page")
    install -D -m 0644 "$page" "$stage/usr/share/man/man$section/$name"
    gzip -9n "$stage/usr/share/man/man$section/$name"
done

# Documentation: copyright (with the statically linked crates and their
# licenses, from Cargo.lock) and the Debian changelog.
doc="$stage/usr/share/doc/loghogd"
mkdir -p "$doc"
crates=$(cargo tree --locked --offline -e normal,no-proc-macro \
    -p loghog-daemon -p loghog-cli --prefix none --format ' {p}: {l}' |
    sed 's/ (\*)$//; s/ ([^)]*)\(:\)/\1/' | grep -v -e '^ loghog-' -e '^ *$' | sort -u)
[ -n "$crates" ] || die "cargo tree listed no crates"
while IFS= read -r line; do
    if [ "$line" = "@CRATES@" ]; then
        printf '%s\n' "$crates"
    else
        printf '%s\n' "$line"
    fi
done <packaging/debian/copyright >"$doc/copyright"
chmod 0644 "$doc/copyright"
changelog_date=$(LC_ALL=C date -u -R -d "@$SOURCE_DATE_EPOCH")
sed -e "s/@VERSION@/$deb_version/" -e "s/@DATE@/$changelog_date/" \
    packaging/debian/changelog >"$doc/changelog.Debian"
gzip -9n "$doc/changelog.Debian"
chmod 0644 "$doc/changelog.Debian.gz"

# Lintian overrides, each with its reason.
install -D -m 0644 packaging/debian/lintian-overrides "$stage/usr/share/lintian/overrides/loghogd"

# Maintainer scripts and conffiles.
for script in postinst prerm postrm; do
    install -m 0755 "packaging/debian/$script" "$stage/DEBIAN/$script"
done
(cd "$stage" && find etc -type f | sort | sed 's|^|/|') >"$stage/DEBIAN/conffiles"

# Depends from the binaries' shared libraries.
if command -v dpkg-shlibdeps >/dev/null 2>&1; then
    shlib_dir=$(mktemp -d)
    trap 'rm -rf "$shlib_dir"' EXIT
    mkdir -p "$shlib_dir/debian"
    printf 'Source: loghog\n\nPackage: loghogd\nArchitecture: any\n' >"$shlib_dir/debian/control"
    bins=$(realpath "$stage/usr/sbin/loghogd" "$stage"/usr/bin/loghog*)
    # shellcheck disable=SC2086 # one argument per binary
    shlibs=$(cd "$shlib_dir" && dpkg-shlibdeps -O $bins 2>/dev/null)
    depends=${shlibs#shlibs:Depends=}
else
    # Without dpkg-dev: the newest GLIBC symbol version the binaries need.
    glibc=$(objdump -T "$stage/usr/sbin/loghogd" "$stage"/usr/bin/loghog* |
        grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -uV | tail -1)
    depends="libc6 (>= $glibc), libgcc-s1 (>= 4.2)"
fi
[ -n "$depends" ] || die "could not compute Depends"
# init-system-helpers: deb-systemd-helper/-invoke in the maintainer
# scripts. passwd: groupadd/useradd where systemd-sysusers is missing.
depends="$depends, init-system-helpers (>= 1.54~), passwd"

installed_size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
cat >"$stage/DEBIAN/control" <<EOF
Package: loghogd
Version: $deb_version
Architecture: $arch
Maintainer: LogHog maintainers <maintainers@loghog.invalid>
Installed-Size: $installed_size
Depends: $depends
Section: admin
Priority: optional
Description: log daemon: syslog and logrotate in one, fast and private
 Applications on one host or many send their log records to loghogd over
 TCP, UDP or mutual TLS; it writes them one line at a time into one file
 per application facility, rotates by size or schedule, compresses (xz,
 bzip2, gzip) and prunes them, and keeps them private to the group loghog.
 .
 It speaks the wire protocol of the original LogHog 0.7 and reads the same
 loghogd.conf and facilities.conf, so existing clients keep working.
 .
 This package installs the daemon as a systemd service running as the user
 loghog, listening on 127.0.0.1 (port 5566, and 5577 with TLS), with a CA
 and server certificate made at install in /etc/loghogd/certs; the loghog
 command (send records, load-test); and loghog-server-cert and
 loghog-client-cert, which make the TLS certificates.
EOF

(cd "$stage" && find . -type f ! -path './DEBIAN/*' -printf '%P\n' | LC_ALL=C sort |
    xargs -d '\n' md5sum) >"$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

# The unit must load: every directive known, every value valid. Its
# ExecStart binary is not installed yet, so that one complaint is expected
# (scripts/test-deb.sh verifies the installed unit with nothing excused).
if command -v systemd-analyze >/dev/null 2>&1; then
    verify=$(systemd-analyze verify --man=no "$stage$unitdir/loghogd.service" 2>&1 || true)
    problems=$(grep -v 'Command /usr/sbin/loghogd is not executable' <<<"$verify" || true)
    if [ -n "$problems" ]; then
        printf '%s\n' "$problems" >&2
        die "systemd-analyze verify failed on $unitdir/loghogd.service"
    fi
    echo "package-deb: systemd-analyze verify: OK"
else
    echo "package-deb: systemd-analyze not installed: unit NOT verified"
fi

deb="$out/loghogd_${file_version}_${arch}.deb"
rm -f "$out"/loghogd_*.deb
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "package-deb: wrote $deb ($(du -h "$deb" | cut -f1); Depends: $depends)"
