#!/usr/bin/env bash
# make bench: prints the README's benchmark tables on this machine.
#   1. cvc: encode+sign and decode+verify per algorithm, eacgate vs openpace (libeac).
#   2. ecc: raw ECDSA sign/verify per curve, and `openssl speed` for brainpoolP256r1/P-256.
#   3. hsm: signatures per second, SoftHSM2 vs the software keystore.
#   4. end to end: eacgate-load renewals over mutual TLS against spawned gateways
#      (scripts/bench-load.sh), as a fraction of the crypto bound.
set -euo pipefail
cd "$(dirname "$0")/.."
BENCHTIME=${BENCHTIME:-2s}
out=$(mktemp -d); trap 'rm -rf "$out"' EXIT

go test -run '^$' -bench 'BenchmarkIssue|BenchmarkDecodeVerify' -benchtime "$BENCHTIME" ./cvc/ > "$out/cvc.txt"
SECS=${SECS:-2} scripts/bench-openpace.sh --lines > "$out/openpace.txt"
go test -run '^$' -bench . -benchtime "$BENCHTIME" ./ecc/ > "$out/ecc.txt"
openssl speed -seconds 2 ecdsabrp256r1 ecdsap256 2>/dev/null | grep -E '^ *256 bits ecdsa' > "$out/openssl.txt" || true
go test -run '^$' -bench . -benchtime "$BENCHTIME" ./hsm/ > "$out/hsm.txt" || echo "(hsm benchmarks need softhsm2)" >&2

python3 - "$out" <<'PY'
import re, sys, os
d = sys.argv[1]
def ops(ns): return 1e9 / float(ns)
def bench(path):
    res = {}
    for line in open(os.path.join(d, path)):
        m = re.match(r'(Benchmark\S+?)(-\d+)?\s+\d+\s+([\d.]+) ns/op', line)
        if m: res[m.group(1)] = ops(m.group(3))
    return res
cvc = bench('cvc.txt')
label = {'P-256': 'id-TA-ECDSA-SHA-256/P-256', 'brainpoolP256r1': 'id-TA-ECDSA-SHA-256/brainpoolP256r1',
         'P-384': 'id-TA-ECDSA-SHA-384/P-384', 'brainpoolP384r1': 'id-TA-ECDSA-SHA-384/brainpoolP384r1',
         'brainpoolP512r1': 'id-TA-ECDSA-SHA-512/brainpoolP512r1', 'RSA-2048': 'id-TA-RSA-v1-5-SHA-256/RSA-2048',
         'RSA-PSS-2048': 'id-TA-RSA-PSS-SHA-256/RSA-2048'}
print("### CV certificates: operations per second, one goroutine / one thread\n")
print("| algorithm | eacgate decode+verify | openpace decode+verify | eacgate encode+sign | openpace encode+sign |")
print("|---|---:|---:|---:|---:|")
for line in open(os.path.join(d, 'openpace.txt')):
    name, v, s = line.split()
    g = label[name]
    print(f"| {name} | {cvc.get('BenchmarkDecodeVerify/'+g, 0):,.0f} | {float(v):,.0f} | {cvc.get('BenchmarkIssue/'+g, 0):,.0f} | {float(s):,.0f} |")
e = bench('ecc.txt')
print("\n### ECDSA (ecc package): operations per second\n")
print("| curve | sign | verify |")
print("|---|---:|---:|")
for k in sorted(x for x in e if x.startswith('BenchmarkSign/')):
    c = k.split('/', 1)[1]
    print(f"| {c} | {e[k]:,.0f} | {e.get('BenchmarkVerify/'+c, 0):,.0f} |")
for line in open(os.path.join(d, 'openssl.txt')):
    f = line.split()
    print(f"\nopenssl speed, {f[3]}: sign {float(f[-2]):,.0f}/s, verify {float(f[-1]):,.0f}/s")
h = bench('hsm.txt')
if h:
    print("\n### Signing keys (hsm package): signatures per second\n")
    print("| benchmark | sig/s |")
    print("|---|---:|")
    for k, v in sorted(h.items()):
        print(f"| {k.replace('Benchmark', '')} | {v:,.0f} |")
PY

echo
echo "### End to end: authenticated renewals over mutual TLS (eacgate-load)"
echo
scripts/bench-load.sh

echo
echo "### Web console: time per page over 100,000 certificates (admin/console)"
echo
echo "| page | ms |"
echo "|---|---:|"
go test -run '^$' -bench 'BenchmarkConsolePages' -benchtime 20x ./admin/console/ |
  awk '/^BenchmarkConsolePages/ { sub(/^BenchmarkConsolePages\//, "", $1); sub(/-[0-9]+$/, "", $1); printf "| %s | %.1f |\n", $1, $3 / 1e6 }'
