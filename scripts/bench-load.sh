#!/usr/bin/env bash
# End-to-end benchmark (part of make bench): eacgate-load against spawned gateways for
# P-256 / brainpoolP256r1 x SQLite / PostgreSQL x software keystore / SoftHSM2, printed as the
# README's markdown table. PostgreSQL is a throwaway cluster (initdb, fsync off, as
# internal/pgtest starts it); SoftHSM2 a throwaway token. Rows whose tool is missing are
# skipped with a note on stderr.
#   LOAD_REQUESTS_P256, LOAD_REQUESTS_BP256: renewals per run (made before the clock starts)
#   LOAD_CONCURRENCY: requests in flight (default 16)
set -euo pipefail
cd "$(dirname "$0")/.."
work=$(mktemp -d); chmod 755 "$work"
pgdata="" ; pgbin=""
cleanup() {
  if [ -n "$pgdata" ]; then
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$pgbin/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true
    else "$pgbin/pg_ctl" -D "$pgdata" -m immediate -w stop >/dev/null 2>&1 || true; fi
  fi
  rm -rf "$work"
}
trap cleanup EXIT

go build -o "$work/eacgate" ./cmd/eacgate
go build -o "$work/eacgate-load" ./cmd/eacgate-load
CONC=${LOAD_CONCURRENCY:-16}
declare -A REQS=([P-256]=${LOAD_REQUESTS_P256:-8000} [brainpoolP256r1]=${LOAD_REQUESTS_BP256:-5000})

# PostgreSQL: a throwaway cluster on a free port.
pgdsn=""
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)
if [ -n "$pgbin" ] && [ -x "$pgbin/initdb" ]; then
  pgdata="$work/pg"; mkdir -p "$pgdata"
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as=(); if [ "$(id -u)" = 0 ]; then chown postgres "$work" "$pgdata"; as=(runuser -u postgres --); fi
  "${as[@]}" "$pgbin/initdb" -D "$pgdata" -A trust -U postgres -E UTF8 --no-sync >/dev/null
  "${as[@]}" "$pgbin/pg_ctl" -D "$pgdata" -l "$pgdata/log" -w -o "-p $port -k $pgdata -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" start >/dev/null
  pgdsn="postgres://postgres@127.0.0.1:$port/postgres?sslmode=disable"
  newdb() { "${as[@]}" psql -h 127.0.0.1 -p "$port" -U postgres -qc "CREATE DATABASE $1" >/dev/null; echo "postgres://postgres@127.0.0.1:$port/$1?sslmode=disable"; }
else
  echo "(no PostgreSQL: postgres rows skipped)" >&2
fi

# SoftHSM2: one token per run (the load generator creates the CA keys in it).
module=""
for m in /usr/lib/softhsm/libsofthsm2.so /usr/lib/x86_64-linux-gnu/softhsm/libsofthsm2.so; do [ -f "$m" ] && module=$m && break; done
if [ -z "$module" ] || ! command -v softhsm2-util >/dev/null; then echo "(no SoftHSM2: pkcs11 rows skipped)" >&2; fi
export SOFTHSM2_CONF="$work/softhsm2.conf" EACGATE_PIN=1234
mkdir -p "$work/tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' "$work/tokens" > "$SOFTHSM2_CONF"

echo "| curve | database | CA keys | renewals/s | p50 ms | p99 ms | crypto bound req/s | end-to-end / bound | gateway RSS MiB |"
echo "|---|---|---|---:|---:|---:|---:|---:|---:|"
n=0
for curve in P-256 brainpoolP256r1; do
  for db in sqlite postgres; do
    for ks in soft pkcs11; do
      n=$((n+1))
      args=(--spawn --eacgate "$work/eacgate" --curve "$curve" --keystore "$ks" --concurrency "$CONC"
            --requests "${REQS[$curve]}" --duration 60s --rss-interval 1s --json)
      if [ "$db" = postgres ]; then [ -n "$pgdsn" ] || continue; args+=(--db "$(newdb "bench$n")"); fi
      if [ "$ks" = pkcs11 ]; then
        [ -n "$module" ] || continue
        softhsm2-util --init-token --free --label "bench$n" --pin 1234 --so-pin 123456 >/dev/null
        args+=(--pkcs11-module "$module" --pkcs11-token "bench$n")
      fi
      "$work/eacgate-load" "${args[@]}" 2>"$work/err" > "$work/out.json" || { cat "$work/err" >&2; cat "$work/out.json" >&2; }
      python3 - "$work/out.json" "$db" "$ks" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
ks = {"soft": "software keystore", "pkcs11": "SoftHSM2"}[sys.argv[3]]
rss = r.get("rss") or {}
bad = sum(v for k, v in r["codes"].items() if k != "ok_cert_available")
note = f" ({bad} failed)" if bad else ""
print(f"| {r['curve']} | {'SQLite' if sys.argv[2]=='sqlite' else 'PostgreSQL'} | {ks} | {r['throughput']:,.0f}{note} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | "
      f"{r['crypto_bound']:,.0f} | {100*r['fraction_of_bound']:.0f}% | {rss.get('steady_mib', 0):.0f} |")
PY
    done
  done
done
echo
echo "$(nproc) CPUs, $(go env GOVERSION); $CONC requests in flight; load generator on the same machine."
