"""A python3-zeep SOAP client for eacgate's end-to-end tests.

Reads a JSON job on stdin:
  {"wsdl": url, "ca": path, "cert": path, "key": path,
   "calls": [{"op": name, "args": {...}}]}   binary values as {"$b64": "..."}
builds a zeep client from the served ?wsdl over mutual TLS and prints JSON: a list with the
decoded result of each call, bytes as {"$b64": ...}.
"""
import json
import os
import sys

import requests
import zeep
from zeep.helpers import serialize_object
from zeep.transports import Transport

# The JSON <-> bytes conventions are shared with the generated/ round-trip script.
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "..", "generated", "testdata"))
from zeep_roundtrip import decode_args, encode_out  # noqa: E402


def main():
    job = json.load(sys.stdin)
    session = requests.Session()
    # REQUESTS_CA_BUNDLE and proxy variables in the environment would override verify.
    session.trust_env = False
    session.verify = job["ca"]
    session.cert = (job["cert"], job["key"])
    client = zeep.Client(job["wsdl"], transport=Transport(session=session, timeout=20))
    out = []
    for call in job["calls"]:
        result = getattr(client.service, call["op"])(**decode_args(call["args"]))
        out.append(encode_out(serialize_object(result, dict)))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
