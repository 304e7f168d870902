#!/usr/bin/env bash
# The openpace (libeac) side of the cvc benchmark comparison: builds tools/cvcbench, makes a
# CVCA -> DV -> terminal chain per algorithm with openssl + cvc-create, and prints
# "label decode+verify/s encode+sign/s" lines. Needs openpace, libeac-dev, libssl-dev, gcc.
set -euo pipefail
SECS=${SECS:-2}
root=$(cd "$(dirname "$0")/.." && pwd)
for tool in gcc pkg-config openssl cvc-create; do
  command -v "$tool" >/dev/null || { echo "bench-openpace: $tool is missing (apt-get install openpace libeac-dev libssl-dev gcc pkg-config)" >&2; exit 1; }
done
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
gcc -O2 -Wno-deprecated-declarations -o "$work/cvcbench" "$root/tools/cvcbench/cvcbench.c" \
    $(pkg-config --cflags --libs libeac) -lcrypto
exp=$(date -u -d '+1 month' +%y%m%d)
while read -r label keyspec scheme; do
  d="$work/$label"; mkdir -p "$d"; cd "$d"
  for k in cvca dv is; do
    case $keyspec in
      ec:*)  openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:${keyspec#ec:}" -out $k.pem 2>/dev/null ;;
      rsa:*) openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${keyspec#rsa:}" -out $k.pem 2>/dev/null ;;
    esac
    openssl pkcs8 -topk8 -nocrypt -in $k.pem -outform DER -out $k.pkcs8
  done
  c=(--type=is --scheme="$scheme" --expires="$exp" --read-finger)
  cvc-create --role=cvca --chr=ZZCVCA00001 --sign-with=cvca.pkcs8 --out-cert=cvca.cvcert "${c[@]}" >/dev/null
  cvc-create --role=dv_domestic --chr=ZZDVDOM00001 --sign-as=cvca.cvcert --sign-with=cvca.pkcs8 --key=dv.pkcs8 --out-cert=dv.cvcert "${c[@]}" >/dev/null
  cvc-create --role=terminal --chr=ZZISTERM00001 --sign-as=dv.cvcert --sign-with=dv.pkcs8 --key=is.pkcs8 --out-cert=is.cvcert "${c[@]}" >/dev/null
  v=$("$work/cvcbench" verify cvca.cvcert dv.cvcert is.cvcert "$SECS" | awk '{print $4}')
  s=$("$work/cvcbench" sign cvca.cvcert dv.cvcert is.cvcert dv.pkcs8 "$SECS" | awk '{print $4}')
  echo "$label $v $s"
done <<'SETS'
P-256 ec:prime256v1 ECDSA_SHA_256
brainpoolP256r1 ec:brainpoolP256r1 ECDSA_SHA_256
P-384 ec:secp384r1 ECDSA_SHA_384
brainpoolP384r1 ec:brainpoolP384r1 ECDSA_SHA_384
brainpoolP512r1 ec:brainpoolP512r1 ECDSA_SHA_512
RSA-2048 rsa:2048 RSA_v1_5_SHA_256
RSA-PSS-2048 rsa:2048 RSA_PSS_SHA_256
SETS
