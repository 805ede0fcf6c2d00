# Floor for "password reset": the programs the handler runs for it (each once), with
# none of its checks. Inputs: BLOB CRT PRV VM_USER; "user:password" on stdin.
set -e
openssl cms -decrypt -inform DER -recip "$CRT" -inkey "$PRV" -in "$BLOB" > /dev/null
visudo -c > /dev/null
chpasswd
sshd -T -C "user=$VM_USER,host=localhost,addr=127.0.0.1" > /dev/null
printf 'Match User %s\n    PasswordAuthentication yes\n' "$VM_USER" > /etc/ssh/sshd_config.d/50-vmaccess.conf
sshd -t
service ssh reload > /dev/null
