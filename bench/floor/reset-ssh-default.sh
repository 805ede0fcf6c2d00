# Floor for "reset_ssh" when sshd_config already is the default: the programs the
# handler runs for it (each once), with none of its checks. Inputs: BLOB CRT PRV.
set -e
openssl cms -decrypt -inform DER -recip "$CRT" -inkey "$PRV" -in "$BLOB" > /dev/null
sshd -T -C user=root,host=localhost,addr=127.0.0.1 > /dev/null
sshd -t
iptables -w -S INPUT > /dev/null 2>&1 || true
ip6tables -w -S INPUT > /dev/null 2>&1 || true
nft -j list ruleset > /dev/null 2>&1 || true
