"""zeep side of eacgate/generated's interop test (generated/zeep_test.go).

Reads a JSON job on stdin:
  {"wsdl": path,
   "requests":  [{"op": name, "args": {...}}],   binary values as {"$b64": "..."}
   "responses": {op: "<envelope xml>"}}
builds a zeep client from the WSDL and prints JSON:
  {"requests":  {op: "<request envelope as zeep would send it>"},
   "responses": {op: <the decoded output, bytes as {"$b64": ...}>}}
No network: create_message and the output message's deserialize only.
"""
import base64
import json
import sys

from lxml import etree
import zeep
from zeep.helpers import serialize_object


def decode_args(v):
    if isinstance(v, dict):
        if set(v) == {"$b64"}:
            return base64.b64decode(v["$b64"])
        return {k: decode_args(x) for k, x in v.items()}
    if isinstance(v, list):
        return [decode_args(x) for x in v]
    return v


def encode_out(v):
    if isinstance(v, (bytes, bytearray)):
        return {"$b64": base64.b64encode(bytes(v)).decode()}
    if isinstance(v, dict):
        return {k: encode_out(x) for k, x in v.items()}
    if isinstance(v, list):
        return [encode_out(x) for x in v]
    return v


def main():
    job = json.load(sys.stdin)
    client = zeep.Client(job["wsdl"])
    binding = client.service._binding
    out = {"requests": {}, "responses": {}, "zeep": zeep.__version__}
    for r in job.get("requests", []):
        env = client.create_message(client.service, r["op"], **decode_args(r["args"]))
        out["requests"][r["op"]] = etree.tostring(env).decode()
    for op, env in job.get("responses", {}).items():
        operation = binding.get(op)
        result = operation.output.deserialize(etree.fromstring(env.encode()))
        out["responses"][op] = encode_out(serialize_object(result, dict))
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()
