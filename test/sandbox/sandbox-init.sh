#!/bin/sh
# First process of a sandbox. `unshare` starts it in fresh mount, pid, net, uts and ipc
# namespaces; it assembles the root (overlay over the cached Debian tree), enters it
# with chroot and then stays as the namespace's init, reaping orphans, until killed.
# Usage: sandbox-init.sh <lower> <upper> <work> <merged>
set -eu
lower=$1
upper=$2
work=$3
merged=$4

mount -t overlay overlay -o "lowerdir=$lower,upperdir=$upper,workdir=$work" "$merged"
mount -t proc -o nosuid,nodev,noexec proc "$merged/proc"
# Read-only: the sandbox may look at devices and the network namespace, not retune the host.
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$merged/sys"
mount -t tmpfs -o mode=0755,nosuid,nodev,size=64m tmpfs "$merged/run"

# A minimal /dev of our own rather than the host's: disk tests inside must never be
# able to reach this machine's real disks. Loop devices are there for disk tests.
dev=$merged/dev
mount -t tmpfs -o mode=0755,nosuid,size=4m tmpfs "$dev"
mknod -m 666 "$dev/null" c 1 3
mknod -m 666 "$dev/zero" c 1 5
mknod -m 666 "$dev/full" c 1 7
mknod -m 666 "$dev/random" c 1 8
mknod -m 666 "$dev/urandom" c 1 9
mknod -m 666 "$dev/tty" c 5 0
mknod -m 660 "$dev/loop-control" c 10 237
i=0
while [ "$i" -lt 64 ]; do
  mknod -m 660 "$dev/loop$i" b 7 "$i"
  i=$((i + 1))
done
mkdir -m 0755 "$dev/pts"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$dev/pts"
ln -s pts/ptmx "$dev/ptmx"
mkdir -m 1777 "$dev/shm"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$dev/shm"
ln -s /proc/self/fd "$dev/fd"
ln -s /proc/self/fd/0 "$dev/stdin"
ln -s /proc/self/fd/1 "$dev/stdout"
ln -s /proc/self/fd/2 "$dev/stderr"

exec chroot "$merged" /bin/bash -c '
  set -e
  hostname sandbox
  ip link set lo up
  mkdir -p /run/sshd /run/lock
  echo ready
  exec >/dev/null 2>&1 </dev/null
  set +e
  # pid 1 of the namespace: orphans (daemons, nsenter children) are re-parented here,
  # and bash reaps every child in its SIGCHLD handler, so no zombie can look alive.
  while :; do sleep 3600 & wait $!; done
'
