#!/usr/bin/env bash
# `make deb`: a Debian package of the release build (dpkg-deb, no debhelper), written to dist/: the two
# binaries, the systemd units, sysusers and tmpfiles entries, the default configuration (a conffile) and
# the docs. The sandbox gateway, a test tool that `make install` puts in lib/wpwithind, is left out. Then
# lintian, when installed, checks it.
set -euo pipefail
cd "$(dirname "$0")/.."
version=$(sed -n 's/.*current = "\(.*\)".*/\1/p' Sources/WPWithinCore/Version.swift)
arch=$(dpkg --print-architecture)
stage=$(mktemp -d /tmp/wpw-deb.XXXXXX)
chmod 0755 "$stage"
trap 'rm -rf "$stage"' EXIT
# Debian 12 keeps units in /lib/systemd/system.
make -s install DESTDIR="$stage" PREFIX=/usr UNITDIR="$stage/lib/systemd/system" >/dev/null

rm -rf "$stage/usr/lib/wpwithind"  # the sandbox gateway: a test tool, not for devices
doc="$stage/usr/share/doc/wpwithind"
install -m 0644 packaging/deb/copyright "$doc/copyright"
# Not a native package (revision -1): the upstream changelog, and a Debian one for the packaging.
gzip -9n -c CHANGELOG.md > "$doc/changelog.gz"
printf 'wpwithind (%s-1) unstable; urgency=medium\n\n  * Built with make deb from commit %s; changes in changelog.gz.\n\n -- %s  %s\n' \
  "$version" "$(git rev-parse --short HEAD 2>/dev/null || echo unknown)" \
  "$(sed -n 's/^Maintainer: //p' packaging/deb/control.in)" "$(git log -1 --format=%aD 2>/dev/null || date -R)" \
  | gzip -9n > "$doc/changelog.Debian.gz"
rm -f "$doc/LICENSE" "$doc/CHANGELOG.md"  # the licence is in copyright; the changelog compressed
chmod 0644 "$doc/changelog.gz" "$doc/changelog.Debian.gz"

# Run-time dependencies: the packages that own the shared libraries the binaries name (NEEDED; what
# those libraries need in turn is their packages' business).
libs=$(for exe in "$stage/usr/bin/wpwithind" "$stage/usr/bin/wpwctl"; do
  for name in $(objdump -p "$exe" | awk '/NEEDED/ {print $2}'); do
    ldd "$exe" | awk -v n="$name" '$1 == n {print $3}'
  done
done | sort -u)
# libc6 at least the newest glibc symbol version the binaries ask for; packed relocations (DT_RELR, see
# the Makefile's PACK_RELOCS) need glibc 2.36.
glibc=$(for exe in "$stage/usr/bin/wpwithind" "$stage/usr/bin/wpwctl"; do
  readelf -V --wide "$exe" | grep -o 'GLIBC_[0-9][0-9.]*\|GLIBC_ABI_DT_RELR' | sed 's/GLIBC_ABI_DT_RELR/GLIBC_2.36/'
done | sed 's/GLIBC_//' | sort -V | tail -1)
depends=$(for lib in $libs; do dpkg -S "$(readlink -f "$lib")" 2>/dev/null || dpkg -S "$lib"; done \
  | cut -d: -f1 | sort -u | sed "s/^libc6\$/libc6 (>= $glibc)/" | paste -sd, - | sed 's/,/, /g')

mkdir -m 0755 "$stage/DEBIAN"
install -m 0755 packaging/deb/postinst packaging/deb/prerm packaging/deb/postrm "$stage/DEBIAN/"
echo /etc/wpwithind/wpwithind.json > "$stage/DEBIAN/conffiles"
size=$(du -sk --exclude=DEBIAN "$stage" | cut -f1)
sed -e "s/@VERSION@/$version-1/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s/@DEPENDS@/$depends/" \
  packaging/deb/control.in > "$stage/DEBIAN/control"
(cd "$stage" && find . -path ./DEBIAN -prune -o -type f -print0 | sort -z | xargs -0 md5sum | sed 's# \./# #') > "$stage/DEBIAN/md5sums"
chmod 0644 "$stage/DEBIAN/control" "$stage/DEBIAN/conffiles" "$stage/DEBIAN/md5sums"

mkdir -p dist
deb="dist/wpwithind_${version}-1_${arch}.deb"
dpkg-deb --root-owner-group -Zxz --build "$stage" "$deb" >/dev/null
echo "deb: $deb ($(( $(stat -c %s "$deb") / 1024 )) KiB); Depends: $depends"
if command -v lintian >/dev/null; then
  lintian --info --display-info "$deb" || true
else
  echo "deb: lintian is not installed (apt-get install -y lintian) to check the package" >&2
fi
