#!/bin/bash
# packaging/debian/build-deb.sh ROOT VERSION ARCH OUTDIR
# Turns a `make install DESTDIR=ROOT` tree into OUTDIR/roster_VERSION_ARCH.deb
# with dpkg-deb: binaries stripped, man pages compressed, the Debian
# changelog and copyright added, DEBIAN/ control files (Depends computed by
# dpkg-shlibdeps) and maintainer scripts from this directory.
set -euo pipefail
root=$1 version=$2 arch=$3 outdir=$4
here=$(cd "$(dirname "$0")" && pwd)
doc=$root/usr/share/doc/roster

# Debian policy: stripped ELF files, compressed man pages and changelog.
while IFS= read -r -d '' f; do
    if file -b "$f" | grep -q '^ELF'; then
        case $f in
            *.so | *.so.*) strip --remove-section=.comment --remove-section=.note --strip-unneeded "$f" ;;
            *) strip --remove-section=.comment --remove-section=.note "$f" ;;
        esac
    fi
done < <(find "$root" -type f -print0)
find "$root/usr/share/man" -type f -name '*.[0-9]' -exec gzip -9n {} +
gzip -9n -c "$here/changelog" > "$doc/changelog.gz"
install -m 0644 "$here/copyright" "$doc/copyright"
chmod 0644 "$doc/changelog.gz"

# Control area.
mkdir -p "$root/DEBIAN"
install -m 0644 "$here/conffiles" "$root/DEBIAN/conffiles"
# The NSS module is a shared library in the linker path.
install -m 0644 "$here/triggers" "$root/DEBIAN/triggers"
for s in postinst prerm postrm; do install -m 0755 "$here/$s" "$root/DEBIAN/$s"; done
elves=()
while IFS= read -r -d '' f; do
    file -b "$f" | grep -q '^ELF' && elves+=("-e$f")
done < <(find "$root" -path "$root/DEBIAN" -prune -o -type f -print0)
scratch=$(mktemp -d)
trap 'rm -rf "$scratch"' EXIT
mkdir -p "$scratch/debian"
printf 'Source: roster\n\nPackage: roster\nArchitecture: any\n' > "$scratch/debian/control"
depends=$(cd "$scratch" && dpkg-shlibdeps -O "${elves[@]}" 2>/dev/null | sed -n 's/^shlibs:Depends=//p')
[ -n "$depends" ] || { echo "dpkg-shlibdeps found no dependencies" >&2; exit 1; }
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" \
    -e "s/@DEPENDS@/$depends/" "$here/control.in" > "$root/DEBIAN/control"
(cd "$root" && find . -path ./DEBIAN -prune -o -path ./etc -prune -o -type f -printf '%P\0' \
    | sort -z | xargs -0 md5sum) > "$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums" "$root/DEBIAN/control"

mkdir -p "$outdir"
deb=$outdir/roster_${version}_${arch}.deb
dpkg-deb --root-owner-group -Zxz --build "$root" "$deb" >/dev/null
echo "$deb"
