# Floor for "create user with key": the programs the handler runs for it (each once),
# with none of its checks. Inputs: BLOB CRT PRV VM_USER VM_KEY (see bench/floor.ts).
set -e
openssl cms -decrypt -inform DER -recip "$CRT" -inkey "$PRV" -in "$BLOB" > /dev/null
getent passwd "$VM_USER" > /dev/null || true
useradd --create-home --shell /bin/bash "$VM_USER"
printf '%s ALL=(ALL) ALL\n' "$VM_USER" >> /etc/sudoers.d/waagent
chmod 0440 /etc/sudoers.d/waagent
visudo -c > /dev/null
sshd -T -C "user=$VM_USER,host=localhost,addr=127.0.0.1" > /dev/null
setpriv --reuid "$VM_USER" --regid "$VM_USER" --init-groups sh -c 'mkdir -p -m 700 "$2/.ssh" && printf "%s\n" "$1" >> "$2/.ssh/authorized_keys" && chmod 600 "$2/.ssh/authorized_keys"' key "$VM_KEY" "/home/$VM_USER"
