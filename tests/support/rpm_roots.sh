#!/usr/bin/env bash
# Real RPM roots for the capture tests, made with Debian's rpm, rpmbuild,
# createrepo_c and dnf; nothing here touches the machine's own /etc, rpm
# database or dnf configuration:
#   - HOME is OUT/home, whose .rpmmacros sets %_dbpath to /var/lib/rpm
#     inside each root (Debian's rpm otherwise keeps it in ~/.rpmdb);
#   - dnf runs with its configuration file in OUT, reposdir=/dev/null, no
#     plugins, --installroot, and the local repository only;
#   - GNUPGHOME is OUT/gnupg, its agent stopped at the end.
#
# usage: rpm_roots.sh OUT
# Makes, under OUT:
#   repo/        a file:// repository: alpha 1.0-1 and 1.1-1, beta 2:2.0-3
#                (an epoch), kernel-tiny 5.14-1 and 5.15-1 (install-only),
#                docs 0.1-1 (noarch)
#   dnf/         dnf --installroot: alpha-1.0, beta, docs, kernel-tiny 5.14
#                then 5.15 (two installed versions), and a gpg-pubkey that
#                `rpm --import` made from a fresh test key (when gpg exists)
#   wal/         dnf/ plus `rpm -i --oldpackage alpha-1.1`, copied while a
#                reader kept that transaction in rpmdb.sqlite-wal
#                (not checkpointed: the main file alone lacks alpha-1.1)
#   bdb/         (when db5.3_load exists) dnf/'s headers in a Berkeley DB hash
#                Packages file made by Berkeley DB's db_load, as RHEL 7 and
#                older SUSE keep them (no index files: rpm warns, reads on)
#   sysimage/    rpm -i into /usr/lib/sysimage/rpm, named by %_dbpath in
#                /etc/rpm/macros.dbpath through %{_usr} of /usr/lib/rpm/macros
set -euo pipefail
out=$(realpath "$1")
export HOME=$out/home LC_ALL=C
mkdir -p "$HOME" "$out/specs"
printf '%%_dbpath /var/lib/rpm\n' >"$HOME/.rpmmacros"

spec() {  # name version release epoch arch
  local f=$out/specs/$1-$2-$3.spec
  {
    echo "Name: $1"
    echo "Version: $2"
    echo "Release: $3"
    [ -n "$4" ] && echo "Epoch: $4"
    [ "$5" = noarch ] && echo "BuildArch: noarch"
    echo "Summary: SifStore test package $1"
    echo "License: MIT"
    echo "%description"
    echo "A package for SifStore's tests."
    echo "%files"
  } >"$f"
  rpmbuild --quiet -bb --define "_topdir $out/top" --define "_rpmdir $out/repo" "$f"
}
spec alpha 1.0 1 "" ""
spec alpha 1.1 1 "" ""
spec beta 2.0 3 2 ""
spec kernel-tiny 5.14 1 "" ""
spec kernel-tiny 5.15 1 "" ""
spec docs 0.1 1 "" noarch
createrepo_c -q "$out/repo"

cat >"$out/dnf.conf" <<EOF
[main]
reposdir=/dev/null
gpgcheck=0
installonlypkgs=kernel-tiny
installonly_limit=3
EOF
dnf_in() {
  local root=$1
  shift
  dnf -q -y -c "$out/dnf.conf" --installroot="$root" --releasever=1 \
    --setopt=reposdir=/dev/null --disableplugin='*' --nogpgcheck \
    --repofrompath="local,file://$out/repo" --repo=local "$@" >/dev/null
}
dnf_in "$out/dnf" install alpha-1.0 beta docs kernel-tiny-5.14
dnf_in "$out/dnf" install kernel-tiny-5.15
if command -v gpg >/dev/null; then
  export GNUPGHOME=$out/gnupg
  mkdir -m 700 -p "$GNUPGHOME"
  gpg -q --batch --passphrase '' --quick-gen-key 'SifStore Test <test@example.invalid>' \
    rsa2048 sign never 2>/dev/null
  gpg -q --armor --export >"$out/key.asc"
  gpgconf --kill gpg-agent || true
  rpm --root "$out/dnf" --import "$out/key.asc" 2>/dev/null
fi

cp -a "$out/dnf" "$out/wal.live"
python3 - "$out" <<'EOF'
import os, shutil, sqlite3, subprocess, sys
out = sys.argv[1]
db = sqlite3.connect(out + "/wal.live/var/lib/rpm/rpmdb.sqlite", isolation_level=None)
db.execute("BEGIN")
db.execute("SELECT count(*) FROM Packages").fetchall()  # a reader rpm cannot checkpoint past
subprocess.run(["rpm", "--root", out + "/wal.live", "-i", "--oldpackage",
                out + "/repo/x86_64/alpha-1.1-1.x86_64.rpm"], check=True, stderr=subprocess.DEVNULL)
shutil.copytree(out + "/wal.live", out + "/wal", symlinks=True)
db.execute("COMMIT")
db.close()
EOF
rm -rf "$out/wal.live"

mkdir -p "$out/sysimage/usr/lib/rpm" "$out/sysimage/etc/rpm"
printf '%%_usr\t\t\t/usr\n%%_var\t\t\t/var\n%%_dbpath\t\t%%{_var}/lib/rpm\n' \
  >"$out/sysimage/usr/lib/rpm/macros"
printf '%%_dbpath %%{_usr}/lib/sysimage/rpm\n' >"$out/sysimage/etc/rpm/macros.dbpath"
rpm --root "$out/sysimage" --dbpath /usr/lib/sysimage/rpm -i --nodeps \
  "$out/repo/x86_64/beta-2.0-3.x86_64.rpm" "$out/repo/noarch/docs-0.1-1.noarch.rpm" 2>/dev/null

db_load=$(command -v db5.3_load || command -v db_load || true)
if [ -n "$db_load" ]; then
  mkdir -p "$out/bdb/var/lib/rpm"
  python3 - "$out" >"$out/bdb.dump" <<'EOF'
import sqlite3, struct, sys
db = sqlite3.connect("file:%s/dnf/var/lib/rpm/rpmdb.sqlite?mode=ro" % sys.argv[1], uri=True)
rows = db.execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
print("VERSION=3\nformat=bytevalue\ntype=hash\ndb_pagesize=4096\nHEADER=END")
for hnum, blob in rows:  # key: the header number, native-endian, as rpm's bdb backend keeps it
    print(" " + struct.pack("=I", hnum).hex() + "\n " + bytes(blob).hex())
print("DATA=END")
EOF
  "$db_load" -f "$out/bdb.dump" "$out/bdb/var/lib/rpm/Packages"
fi
