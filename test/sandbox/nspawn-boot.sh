#!/bin/sh
# Boots a sandbox root with systemd as its pid 1 (systemd-nspawn --boot). Runs as the
# first process of a private mount namespace (`unshare --mount --propagation private`),
# so the overlay and the tmpfs below vanish with it; the caller removes the cgroup.
# Usage: nspawn-boot.sh <lower> <upper> <work> <merged> <cgroup name> <systemd-nspawn> <its library dir> <console log> [nspawn option...]
# (extra options, e.g. --bind-ro=HOST:INSIDE for paths lent before a reboot).
set -eu
lower=$1
upper=$2
work=$3
merged=$4
cgroup=$5
nspawn=$6
library_dir=$7
console=$8
shift 8

# A cgroup of our own in every hierarchy systemd tracks processes in: with --keep-unit
# nspawn creates payload/ and supervisor/ beside itself, which must not land in the
# cgroup of the test process (or of the machine).
if [ -f /sys/fs/cgroup/cgroup.procs ]; then
  hierarchies=/sys/fs/cgroup
else
  hierarchies="/sys/fs/cgroup/unified /sys/fs/cgroup/systemd"
fi
for hierarchy in $hierarchies; do
  [ -d "$hierarchy" ] || continue
  mkdir -p "$hierarchy/$cgroup"
  echo $$ >"$hierarchy/$cgroup/cgroup.procs"
done

mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$merged"
# Shared, so a bind mount made here later under $merged reaches the container (whose
# copy of this mount is a slave of it): that is how host files are lent to the sandbox.
mount --make-shared "$merged"
# nspawn keeps state under /run/systemd/nspawn; a private /run leaves nothing behind.
mount -t tmpfs -o mode=0755,nosuid,nodev,size=16m tmpfs /run

# The container gets the unified cgroup hierarchy even on a hybrid host: systemd 256
# and newer (trixie) refuse to boot on the legacy one.
exec env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin \
  LD_LIBRARY_PATH="$library_dir" \
  SYSTEMD_NSPAWN_UNIFIED_HIERARCHY=1 \
  "$nspawn" --quiet --boot --register=no --keep-unit --private-network \
  --console=read-only --resolv-conf=off --timezone=off --link-journal=no \
  --machine="$cgroup" "$@" -D "$merged" >"$console" 2>&1 </dev/null
