#!/usr/bin/env bash
# A yum/dnf repository for `Bootstrap: yum` builds, made with Debian's
# rpmbuild and createrepo_c; nothing here touches the machine's own /etc,
# rpm database or dnf configuration (HOME is OUT/home).
#
# usage: yum_repo.sh OUT v1     makes OUT/repo with the first versions
#        yum_repo.sh OUT v2     adds newer versions to OUT/repo
#
# v1 packages:
#   base-release 1-1 (noarch)  /etc/redhat-release, /etc/os-release
#   coreutils 9.1-1            a runnable root: /bin/sh (dash), busybox's cat,
#                              mkdir, rm, cp, mv, ls, sed, grep, tr, head, ...,
#                              the C library, the usrmerge links /bin -> usr/bin
#   dnf 4.14-1                 the host's own dnf and what it needs to run
#                              (python3.11, its modules, librpm, libdnf, and
#                              their ldd closure), rpm, /etc/dnf/dnf.conf, and
#                              %_dbpath %{_var}/lib/rpm in /etc/rpm
#   alpha 1.0-1 (noarch)
#   beta 1:1.0-1 (noarch)      requires alpha
#   delta 1.0-1 (noarch)
#   gamma 1.0-1 (noarch)       requires delta
# v2 adds: alpha 2.0-1, beta 1:1.1-1, delta 1.1-1, gamma 1.1-1.
#
# So an image of v1 runs `dnf install` for real in its %post (chrooted: the
# dnf of the image, reading the image's rpm database and configuration).
set -euo pipefail
out=$(realpath "$1")
step=$2
export HOME=$out/home LC_ALL=C
mkdir -p "$HOME" "$out/specs" "$out/repo"
printf '%%_dbpath /var/lib/rpm\n' >"$HOME/.rpmmacros"

# name version release epoch arch requires [stage directory: the package's files]
spec() {
  local f=$out/specs/$1-$2-$3.spec
  {
    echo "Name: $1"
    echo "Version: $2"
    echo "Release: $3"
    [ -n "$4" ] && echo "Epoch: $4"
    [ "$5" = noarch ] && echo "BuildArch: noarch"
    [ -n "$6" ] && echo "Requires: $6"
    echo "Summary: SifStore test package $1"
    echo "License: MIT"
    echo "AutoReqProv: no"
    echo "%global __os_install_post %{nil}"
    echo "%global __arch_install_post %{nil}"
    echo "%global _build_id_links none"
    echo "%global debug_package %{nil}"
    echo "%global _binary_payload w1.gzdio"
    echo "%description"
    echo "A package for SifStore's tests."
    echo "%install"
    if [ -n "${7:-}" ]; then
      echo "mkdir -p %{buildroot}"
      echo "cp -a $7/. %{buildroot}/"
    fi
    echo "%files"
    if [ -n "${7:-}" ]; then
      (cd "$7" && find . ! -type d | sed -e 's|^\.||' -e 's|.*|"&"|')
      (cd "$7" && find . -mindepth 1 -type d -empty | sed -e 's|^\.||' -e 's|.*|%dir "&"|')
    fi
  } >"$f"
  rpmbuild --quiet -bb --define "_topdir $out/top" --define "_rpmdir $out/repo" "$f"
}

# A new stage directory holding the host files named on stdin, dereferenced,
# with /lib, /lib64, /bin and /sbin paths stored under usr/.
stage() {
  local s
  s=$(mktemp -d "$out/stage.XXXXXX")
  while read -r f; do
    [ -n "$f" ] || continue
    local dest=${f#/}
    case $dest in lib/* | lib64/* | bin/* | sbin/*) dest=usr/$dest ;; esac
    mkdir -p "$s/$(dirname "$dest")"
    cp -L "$f" "$s/$dest"
  done
  echo "$s"
}

ldd_closure() {  # program... -> the libraries they load (and the loader)
  for f in "$@"; do ldd "$f" 2>/dev/null || true; done |
    awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\// {print $1}' | sort -u
}

if [ "$step" = v1 ]; then
  spec alpha 1.0 1 "" noarch ""
  spec beta 1.0 1 1 noarch "alpha"
  spec delta 1.0 1 "" noarch ""
  spec gamma 1.0 1 "" noarch "delta"

  s=$(stage </dev/null)
  mkdir -p "$s/etc"
  echo "SifStore Test Linux release 1" >"$s/etc/redhat-release"
  printf 'NAME="SifStore Test Linux"\nID=sifstoretest\nVERSION_ID=1\n' >"$s/etc/os-release"
  spec base-release 1 1 "" noarch "" "$s"

  s=$({ echo /usr/bin/dash; echo /usr/bin/busybox; ldd_closure /usr/bin/dash; } | stage)
  for d in bin lib lib64 sbin; do ln -s usr/$d "$s/$d"; done
  ln -s dash "$s/usr/bin/sh"
  for a in cat mkdir rm cp mv ls sed grep tr head tail sort env printf echo true false \
    test touch chmod ln sleep uname id basename dirname wc cut; do
    ln -s busybox "$s/usr/bin/$a"
  done
  spec coreutils 9.1 1 "" "" "" "$s"
  core=$s

  py=/usr/lib/python3.11
  s=$({
    echo /usr/bin/dnf
    echo /usr/bin/python3.11
    find $py \( -name test -o -name tests -o -name idlelib -o -name tkinter -o -name ensurepip \
      -o -name lib2to3 -o -name pydoc_data -o -name __pycache__ -o -name 'config-3*' \
      -o -name turtledemo -o -name distutils \) -prune -o -type f -print
    for m in dnf hawkey libdnf rpm libcomps gpg; do
      find /usr/lib/python3/dist-packages/$m -type f ! -path '*__pycache__*'
    done
    echo /usr/bin/rpm
    echo /usr/lib/rpm/macros
    echo /usr/lib/rpm/rpmrc
    ldd_closure /usr/bin/python3.11 /usr/bin/rpm $(find $py/lib-dynload \
      /usr/lib/python3/dist-packages/{dnf,hawkey,libdnf,rpm,libcomps,gpg} -name '*.so')
  } | stage)
  (cd "$core" && find . ! -type d) | (cd "$s" && xargs rm -f)  # coreutils owns those
  mkdir -p "$s/etc/dnf" "$s/etc/rpm" "$s/etc/yum.repos.d"
  printf '[main]\ngpgcheck=0\ninstallonly_limit=3\n' >"$s/etc/dnf/dnf.conf"
  printf '%%_var /var\n%%_dbpath %%{_var}/lib/rpm\n' >"$s/etc/rpm/macros.dbpath"
  ln -s python3.11 "$s/usr/bin/python3"
  spec dnf 4.14 1 "" "" "coreutils" "$s"
  rm -rf "$out"/stage.*
else
  spec alpha 2.0 1 "" noarch ""
  spec beta 1.1 1 1 noarch "alpha"
  spec delta 1.1 1 "" noarch ""
  spec gamma 1.1 1 "" noarch "delta"
fi
createrepo_c -q "$out/repo"
