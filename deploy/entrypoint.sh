#!/bin/sh
# Container entry point. "init" prepares a new deployment once: the SoftHSM2 token (in the
# softhsm volume), the CVCA and the DV; it does nothing when the CVCA exists already.
# Anything else is passed to eacgate (default: serve --config /etc/eacgate/eacgate.yaml).
set -eu
CONFIG=${EACGATE_CONFIG:-/etc/eacgate/eacgate.yaml}
if [ "${1:-}" = init ]; then
  : "${EACGATE_PIN:?set EACGATE_PIN}" "${EACGATE_SO_PIN:?set EACGATE_SO_PIN}"
  token=${EACGATE_TOKEN:-eacgate}
  if ! softhsm2-util --show-slots | grep -q "Label:[[:space:]]*$token\$"; then
    softhsm2-util --init-token --free --label "$token" --pin "$EACGATE_PIN" --so-pin "$EACGATE_SO_PIN"
  fi
  if eacgate key list --backend pkcs11 --module /usr/lib/softhsm/libsofthsm2.so --token "$token" --pin-env EACGATE_PIN | grep -q '^cvca'; then
    echo "eacgate: CA keys exist; nothing to initialise"
    exit 0
  fi
  eacgate init cvca --config "$CONFIG" --chr "${EACGATE_CVCA_CHR:-UTCVCA00001}" --alg ECDSA_SHA_256 --curve "${EACGATE_CURVE:-brainpoolP256r1}"
  eacgate init dv --config "$CONFIG" --chr "${EACGATE_DV_CHR:-UTDVBORDER00001}"
  exit 0
fi
exec eacgate "$@"
