#!/usr/bin/env python3
"""An example terminal (inspection system) client for eacgate, with python3-zeep.

It builds a zeep client from the WSDL the gateway serves (https://HOST/dv?wsdl, or the file
wsdl/dv-1.1.wsdl of this repository) and calls, over mutual TLS:

  1. GetCACertificates: the CVCA certificates and the DV certificate terminals are issued under;
  2. RequestCertificate with an unauthenticated request: the terminal's first CV certificate
     (only on the first run, when --dir holds no certificate yet);
  3. RequestCertificate with a request authenticated by the current certificate's key: a renewal.

The CV certificate requests (TR-03110) are made by `eacgate cvc request`, which generates the
key and writes it as PKCS#8. Keys and certificates are kept in --dir as CHR.pkcs8 and
CHR.cvcert, so every later run renews the newest certificate. See examples/README.md.

Needs: python3, python3-zeep (Debian), the eacgate binary (make build: bin/eacgate).
"""
import argparse
import datetime
import glob
import os
import subprocess
import sys
import uuid

import requests
import zeep
from zeep.transports import Transport


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--wsdl", default="https://127.0.0.1:8443/dv?wsdl",
                   help="the DV endpoint's WSDL URL (or a path to wsdl/dv-1.1.wsdl)")
    p.add_argument("--url", help="the DV endpoint, when --wsdl is a file (the WSDL's address is a placeholder)")
    p.add_argument("--cert", default="term.pem", help="TLS client certificate (PEM), registered with eacgate holder add")
    p.add_argument("--key", default="term.key", help="its private key (PEM)")
    p.add_argument("--ca", default="eacgate-data/tls.crt", help="trust anchor of the gateway's TLS certificate (PEM)")
    p.add_argument("--holder", default="UTISGATE01", help="country code and mnemonic the holder is registered with")
    p.add_argument("--curve", default="brainpoolP256r1", help="curve of the CVCA's key (eacgate's demo: brainpoolP256r1)")
    p.add_argument("--dir", default="terminal-state", help="where certificates and keys are kept between runs")
    p.add_argument("--eacgate", default="eacgate", help="the eacgate binary, for 'eacgate cvc request'")
    return p.parse_args()


# --- Just enough TR-03110 TLV to read a CV certificate's CAR, CHR and role. ---

def tlv(data):
    """Yields (tag, value) for each BER-TLV object in data."""
    i = 0
    while i < len(data):
        tag = data[i]
        i += 1
        if tag & 0x1F == 0x1F:  # multi-byte tag
            while True:
                tag = tag << 8 | data[i]
                i += 1
                if not data[i - 1] & 0x80:
                    break
        length = data[i]
        i += 1
        if length & 0x80:
            n = length & 0x7F
            length = int.from_bytes(data[i:i + n], "big")
            i += n
        yield tag, data[i:i + length]
        i += length


def describe(cert):
    """Returns (car, chr, role, expiry) of a CV certificate (7F21 { 7F4E body, 5F37 signature })."""
    (tag, value), = tlv(cert)
    body = dict(tlv(value))[0x7F4E]
    fields = dict(tlv(body))
    chat = dict(tlv(fields[0x7F4C]))
    # The two high bits of the CHAT's first relative-authorization byte are the role.
    role = {3: "CVCA", 2: "DV (domestic)", 1: "DV (foreign)", 0: "Terminal"}[chat[0x53][0] >> 6]
    # Dates are six bytes, one decimal digit each: YYMMDD.
    y, m, d = (10 * a + b for a, b in zip(fields[0x5F24][0::2], fields[0x5F24][1::2]))
    return fields[0x42].decode(), fields[0x5F20].decode(), role, datetime.date(2000 + y, m, d)


def next_chr(chr_):
    """The CHR with its 5-digit sequence number raised: a renewal must carry a higher one."""
    return "%s%05d" % (chr_[:-5], int(chr_[-5:]) + 1)


def main():
    args = parse_args()
    os.makedirs(args.dir, mode=0o700, exist_ok=True)

    session = requests.Session()
    session.trust_env = False  # REQUESTS_CA_BUNDLE or proxy variables would override verify
    session.verify = args.ca
    session.cert = (args.cert, args.key)  # the client certificate identifies the terminal
    client = zeep.Client(args.wsdl, transport=Transport(session=session, timeout=30))
    service = client.service
    if args.url:
        service = client.create_service(next(iter(client.wsdl.bindings)), args.url)

    # TR-03129 v1.1 is rpc/literal, and every operation takes three parts in this order:
    #   callbackIndicator  "callback_not_possible": answer in the HTTP response (synchronous);
    #   messageID          an OptionalMessageIDType: a wrapper element <messageID> around an
    #                      optional <messageID> of namespace uri:eacBT/1.1. zeep wants a dict;
    #                      {} sends the empty wrapper <messageID/>, {"messageID": "id"} an ID;
    #   responseURL        an OptionalStringType: the wrapper <responseURL> around an optional
    #                      <string>, the callback address. Empty ({}) without a callback.
    # The wrappers must be sent even when empty: the parts are not optional, their contents are
    # (zeep refuses None with "Missing element responseURL"; the element-less <messageID/> and
    # <responseURL/> are what TR-03129 peers expect).
    sync = {"callbackIndicator": "callback_not_possible", "responseURL": {}}

    # 1. The CA chain: the country's CVCA certificates (link certificates included), then the
    #    DV certificate terminals are issued under (the last domestic one).
    res = service.GetCACertificates(messageID={}, **sync)
    if res.returnCode != "ok_cert_available":
        sys.exit("GetCACertificates: return code %s" % res.returnCode)
    chain = list(res.certificateSeq.certificate)
    dv_chr = None
    os.makedirs(os.path.join(args.dir, "ca"), exist_ok=True)
    anchors, intermediates = [], []
    for cert in chain:
        car, chr_, role, _ = describe(cert)
        print("CA certificate: %s (%s, issued by %s)" % (chr_, role, car))
        path = os.path.join(args.dir, "ca", chr_ + ".cvcert")
        with open(path, "wb") as f:
            f.write(cert)
        (anchors if car == chr_ else intermediates).append(path)
        if role == "DV (domestic)":
            dv_chr = chr_
    if dv_chr is None:
        sys.exit("GetCACertificates: no domestic DV certificate in the chain")

    def request(chr_, current):
        """Makes a key and a request for chr_ (authenticated by current, a CHR, if set), sends
        it and stores the certificate that comes back."""
        for stale in (chr_ + ".pkcs8", chr_ + ".cvreq"):
            # Left by an attempt that got no certificate (eacgate never overwrites a key file).
            if os.path.exists(os.path.join(args.dir, stale)):
                os.remove(os.path.join(args.dir, stale))
        cmd = [args.eacgate, "cvc", "request", "--chr", chr_, "--car", dv_chr, "--curve", args.curve,
               "--key-out", os.path.join(args.dir, chr_ + ".pkcs8"), "--out", os.path.join(args.dir, chr_ + ".cvreq")]
        kind = "initial request"
        if current:
            # The outer signature by the current certificate's key authenticates the renewal;
            # while the holder has a valid certificate, unauthenticated requests are refused.
            cmd += ["--outer-key", os.path.join(args.dir, current + ".pkcs8"),
                    "--outer-cert", os.path.join(args.dir, current + ".cvcert")]
            kind = "renewal authenticated by " + current
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        with open(os.path.join(args.dir, chr_ + ".cvreq"), "rb") as f:
            cert_req = f.read()
        # A fresh messageID per request: the gateway answers a repeated one with its first
        # answer and issues nothing twice, so a lost answer is fetched by sending it again.
        res = service.RequestCertificate(messageID={"messageID": str(uuid.uuid4())}, certReq=cert_req, **sync)
        if res.returnCode != "ok_cert_available":
            sys.exit("RequestCertificate %s: return code %s" % (chr_, res.returnCode))
        cert = res.certificateSeq.certificate[0]
        car, got, _, _ = describe(cert)
        path = os.path.join(args.dir, got + ".cvcert")
        with open(path, "wb") as f:
            f.write(cert)
        # Check the certificate against the chain before relying on it.
        verify = [args.eacgate, "cvc", "verify"]
        for a in anchors:
            verify += ["--anchor", a]
        for c in intermediates:
            verify += ["--chain", c]
        subprocess.run(verify + [path], check=True, stdout=subprocess.DEVNULL)
        print("issued %s (%s) by %s: %s" % (got, kind, car, path))
        return got

    # 2. The first certificate, unless --dir already holds a valid one. An expired certificate
    #    cannot authenticate a renewal (failure_expired); once it has expired, the gateway
    #    takes an unauthenticated request again, with a higher sequence number.
    have = sorted(glob.glob(os.path.join(args.dir, "*.cvcert")))
    current = None
    if have:
        with open(have[-1], "rb") as f:
            _, current, _, expiry = describe(f.read())
        if expiry < datetime.datetime.now(datetime.timezone.utc).date():
            print("%s expired on %s: asking for a new certificate without authentication" % (current, expiry))
            current = request(next_chr(current), None)
    else:
        current = request(args.holder + "00001", None)
    # 3. A renewal, authenticated by the current certificate.
    request(next_chr(current), current)


if __name__ == "__main__":
    main()
