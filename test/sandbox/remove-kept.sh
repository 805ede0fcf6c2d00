#!/bin/sh
# Removes a sandbox kept with VMACCESS_SANDBOX_KEEP: detaches the loop devices whose
# backing file lives on one of the sandbox's own mounts (never a host device: loop
# devices are global, so `losetup -D` would be wrong), kills its processes and deletes
# its temp dir (and the cgroup of a sandbox booted with systemd). Usage: remove-kept.sh <init pid> <temp dir>
set -eu
pid=$1
dir=$2
case "$(basename -- "$dir")" in
  vmaccess-sandbox-*) ;;
  *) echo "remove-kept: $dir is not a sandbox temp dir" >&2; exit 2 ;;
esac
if [ -r "/proc/$pid/mountinfo" ]; then
  sandbox_devices=$(awk '{print $3}' "/proc/$pid/mountinfo" | sort -u)
  host_devices=$(awk '{print $3}' /proc/self/mountinfo | sort -u)
  own=$(printf '%s\n' "$sandbox_devices" | grep -vxF -e "$host_devices" || true)
  losetup --list --noheadings --output NAME,BACK-MAJ:MIN | while read -r name backing; do
    if printf '%s\n' "$own" | grep -qxF -e "$backing"; then
      # Still mounted inside: detach now sets autoclear, done when the namespace goes.
      losetup --detach "$name" || true
    fi
  done
  kill -9 "$pid"
  sleep 1
fi
# A sandbox booted with systemd-nspawn has a cgroup named like its temp dir.
name=$(basename -- "$dir")
for hierarchy in /sys/fs/cgroup /sys/fs/cgroup/unified /sys/fs/cgroup/systemd; do
  if [ -d "$hierarchy/$name" ]; then
    find "$hierarchy/$name" -depth -type d -exec rmdir {} \; || true
  fi
done
rm -rf --one-file-system -- "$dir"
