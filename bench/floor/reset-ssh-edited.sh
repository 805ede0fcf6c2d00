# Floor for "reset_ssh" of an edited sshd_config: the programs the handler runs for it
# (each once), with none of its checks. Inputs: BLOB CRT PRV.
set -e
openssl cms -decrypt -inform DER -recip "$CRT" -inkey "$PRV" -in "$BLOB" > /dev/null
sshd -T -C user=root,host=localhost,addr=127.0.0.1 > /dev/null
cp /etc/ssh/sshd_config /var/tmp/sshd_config.backup
cp /usr/share/openssh/sshd_config /etc/ssh/sshd_config
sshd -t
iptables -V > /dev/null 2>&1 || true
iptables -w -S INPUT > /dev/null 2>&1 || true
ip6tables -w -S INPUT > /dev/null 2>&1 || true
nft -j list ruleset > /dev/null 2>&1 || true
service ssh reload > /dev/null
