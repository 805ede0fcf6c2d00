#!/usr/bin/env bash
# Builds the Debian root filesystem the end-to-end sandboxes start from.
# Usage: build-rootfs.sh <target-dir> <suite> <mirror> <comma-separated packages>
# Runs under `flock` (see rootfs.ts), so two test processes never build at once;
# builds into a temporary sibling and renames it, so a half-built tree is never used.
set -euo pipefail

target=$1
suite=$2
mirror=$3
packages=$4

if [ -d "$target" ]; then
  exit 0 # another process finished the build while we waited for the lock
fi

parent=$(dirname -- "$target")
mkdir -p -- "$parent"
work=$(mktemp -d "$parent/.build.XXXXXX")
cleanup() { rm -rf --one-file-system -- "$work"; }
trap cleanup EXIT

# minbase plus systemd: a sandbox either never starts an init (sshd from its SysV
# script) or boots the tree with systemd-nspawn. debootstrap replaces start-stop-daemon
# with a no-op while it installs, and no systemd runs in the chroot, so package scripts
# cannot start sshd on this machine.
debootstrap --variant=minbase --include="$packages" "$suite" "$work/root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
  tail -n 40 "$work/debootstrap.log" >&2
  exit 1
}

root=$work/root
# Keep the tree small and free of state from this machine.
chroot "$root" apt-get clean
rm -rf -- "$root"/var/lib/apt/lists/* "$root"/var/log/*.log "$root"/var/cache/debconf/*-old
# No policy says otherwise inside: the sandbox starts sshd through its own SysV script.
rm -f -- "$root/usr/sbin/policy-rc.d"
printf 'sandbox\n' >"$root/etc/hostname"
printf '127.0.0.1\tlocalhost\n127.0.1.1\tsandbox\n::1\tlocalhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
# Logs of every sshd start and reload go to a file, so tests can count them
# (sshd re-executes itself with the same arguments on SIGHUP).
# ssh.service and ssh@.service read the same file (EnvironmentFile=-/etc/default/ssh).
if grep -q '^SSHD_OPTS=' "$root/etc/default/ssh" 2>/dev/null; then
  sed -i 's|^SSHD_OPTS=.*|SSHD_OPTS="-E /var/log/sshd.log"|' "$root/etc/default/ssh"
else
  printf 'SSHD_OPTS="-E /var/log/sshd.log"\n' >>"$root/etc/default/ssh"
fi
: >"$root/etc/machine-id"

cp -- "$work/debootstrap.log" "$root/var/log/debootstrap-build.log"
mv -T -- "$root" "$target"
# Trees of this release built from an older package list or recipe are never used again.
find "$parent" -mindepth 1 -maxdepth 1 -name "rootfs-$suite-*" ! -path "$target" -exec rm -rf --one-file-system -- {} +
