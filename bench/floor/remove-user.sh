# Floor for "remove user": the programs the handler runs for it. Inputs: BLOB CRT PRV VM_USER.
set -e
openssl cms -decrypt -inform DER -recip "$CRT" -inkey "$PRV" -in "$BLOB" > /dev/null
userdel --remove "$VM_USER" 2> /dev/null
