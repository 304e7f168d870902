#!/usr/bin/env bash
# The openpace (libeac) side of the cvc benchmark comparison (see tools/cvcbench/README.md):
# builds tools/cvcbench into a temp dir, makes a CVCA -> DV -> terminal (IS) chain per algorithm
# set with openssl + cvc-create (validity today .. +1 month), and runs `cvcbench verify` and
# `cvcbench sign` (single-threaded, SECS seconds each, default 2) on it.
#
#   scripts/bench-openpace.sh            markdown table:
#                                        | algorithm | openpace decode+verify ops/s | openpace encode+sign ops/s |
#   scripts/bench-openpace.sh --lines    one line per set: "LABEL VERIFY_OPS SIGN_OPS"
#                                        (LABEL = P-256, brainpoolP256r1, ..., RSA-PSS-2048)
#
# Needs: gcc, pkg-config, libeac-dev (libeac.pc), libssl-dev, openssl, cvc-create (openpace).
# Runtime: 7 sets x 2 benchmarks x SECS, plus ~5 s for RSA key generation.
set -euo pipefail
SECS=${SECS:-2}
format=table
case ${1:-} in
  "") ;;
  --lines) format=lines ;;
  -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
  *) echo "bench-openpace: unknown argument '$1' (use --lines or nothing)" >&2; exit 2 ;;
esac
root=$(cd "$(dirname "$0")/.." && pwd)

missing=()
for tool in gcc pkg-config openssl cvc-create; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("$tool")
done
if command -v pkg-config >/dev/null 2>&1 && ! pkg-config --exists libeac; then missing+=("libeac.pc (libeac-dev)"); fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "bench-openpace: missing: ${missing[*]}" >&2
  echo "bench-openpace: on Debian: apt-get install -y openpace libeac-dev libssl-dev gcc pkg-config openssl" >&2
  exit 1
fi

work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
if ! gcc -O2 -Wall -Wno-deprecated-declarations -o "$work/cvcbench" "$root/tools/cvcbench/cvcbench.c" \
    $(pkg-config --cflags --libs libeac) -lcrypto 2>"$work/gcc.log"; then
  cat "$work/gcc.log" >&2
  echo "bench-openpace: building tools/cvcbench/cvcbench.c failed" >&2
  exit 1
fi

today=$(date -u +%y%m%d)
exp=$(date -u -d '+1 month' +%y%m%d)

genkey() { # $1=name $2=ec:CURVE|rsa:BITS
  case $2 in
    ec:*)  openssl genpkey -algorithm EC -pkeyopt "ec_paramgen_curve:${2#ec:}" -out "$1.pem" ;;
    rsa:*) openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${2#rsa:}" -out "$1.pem" ;;
  esac 2>/dev/null
  openssl pkcs8 -topk8 -nocrypt -in "$1.pem" -outform DER -out "$1.pkcs8"
}

run() { # $1=label $2=keyspec $3=scheme  -> prints "LABEL VERIFY SIGN"
  local label=$1 keyspec=$2 scheme=$3 d="$work/$1" v s
  mkdir -p "$d"
  (
    cd "$d"
    for k in cvca dv is; do genkey "$k" "$keyspec"; done
    c=(--type=is --scheme="$scheme" --issued="$today" --expires="$exp" --read-finger --read-iris)
    cvc-create --role=cvca --chr=ZZCVCA00001 --sign-with=cvca.pkcs8 --out-cert=cvca.cvcert "${c[@]}"
    cvc-create --role=dv_domestic --chr=ZZDVDOM00001 --sign-as=cvca.cvcert --sign-with=cvca.pkcs8 \
        --key=dv.pkcs8 --out-cert=dv.cvcert "${c[@]}"
    cvc-create --role=terminal --chr=ZZISTERM00001 --sign-as=dv.cvcert --sign-with=dv.pkcs8 \
        --key=is.pkcs8 --out-cert=is.cvcert "${c[@]}"
  ) >"$d/make.log" 2>&1 || { cat "$d/make.log" >&2; echo "bench-openpace: $label: making the chain failed" >&2; return 1; }
  v=$("$work/cvcbench" verify "$d/cvca.cvcert" "$d/dv.cvcert" "$d/is.cvcert" "$SECS") || return 1
  s=$("$work/cvcbench" sign "$d/cvca.cvcert" "$d/dv.cvcert" "$d/is.cvcert" "$d/dv.pkcs8" "$SECS") || return 1
  echo "$label ${v##* } ${s##* }"
}

results=()
while read -r label keyspec scheme; do
  if ! r=$(run "$label" "$keyspec" "$scheme"); then
    echo "bench-openpace: $label failed" >&2
    exit 1
  fi
  results+=("$r")
done <<'SETS'
P-256 ec:prime256v1 ECDSA_SHA_256
brainpoolP256r1 ec:brainpoolP256r1 ECDSA_SHA_256
P-384 ec:secp384r1 ECDSA_SHA_384
brainpoolP384r1 ec:brainpoolP384r1 ECDSA_SHA_384
brainpoolP512r1 ec:brainpoolP512r1 ECDSA_SHA_512
RSA-2048 rsa:2048 RSA_v1_5_SHA_256
RSA-PSS-2048 rsa:2048 RSA_PSS_SHA_256
SETS

if [ "$format" = lines ]; then
  printf '%s\n' "${results[@]}"
  exit 0
fi
fmt() { sed ':a;s/\B[0-9]\{3\}\>/,&/;ta' <<<"$1"; }   # 15465 -> 15,465
echo "| algorithm | openpace decode+verify ops/s | openpace encode+sign ops/s |"
echo "|---|---:|---:|"
for r in "${results[@]}"; do
  read -r label v s <<<"$r"
  echo "| $label | $(fmt "$v") | $(fmt "$s") |"
done
