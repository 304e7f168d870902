#!/usr/bin/env python3
"""A third-party SendCertificates receiver for the end-to-end tests.

An HTTPS server (Python's http.server) that parses every callback with zeep against the DV
WSDL given on the command line, appends what it understood to a JSON-lines file, and answers
with the response zeep serialises for the operation. While the file named "down" exists it
answers HTTP 503 instead, to simulate an outage.

usage: callback_receiver.py WSDL CERT KEY RECORD DOWNFILE   (prints the port it listens on)
"""
import base64
import json
import os
import ssl
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import zeep
from lxml import etree

wsdl, certfile, keyfile, record, downfile = sys.argv[1:6]
client = zeep.Client(wsdl)
operation = client.service._binding.get("SendCertificates")
lock = threading.Lock()


class Handler(BaseHTTPRequestHandler):
    def log_message(self, fmt, *args):
        sys.stderr.write("receiver: " + (fmt % args) + "\n")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if os.path.exists(downfile):
            self.send_response(503)
            self.end_headers()
            return
        try:
            parsed = operation.input.deserialize(etree.fromstring(body))
        except Exception as e:  # a callback that does not fit the WSDL
            sys.stderr.write("receiver: cannot parse callback: %r\n" % e)
            self.send_response(400)
            self.end_headers()
            return
        message_id = parsed.messageID
        if message_id is not None and not isinstance(message_id, str):
            message_id = message_id.messageID
        certs = []
        if parsed.certificateSeq is not None and parsed.certificateSeq.certificate:
            certs = [base64.b64encode(c).decode() for c in parsed.certificateSeq.certificate]
        with lock, open(record, "a") as f:
            f.write(json.dumps({"messageID": message_id, "statusInfo": parsed.statusInfo, "certificates": certs}) + "\n")
        reply = operation.output.serialize(Result={"returnCode": "ok_received_correctly"})
        out = etree.tostring(reply.content, xml_declaration=True, encoding="utf-8")
        self.send_response(200)
        self.send_header("Content-Type", "text/xml; charset=utf-8")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(certfile, keyfile)
server.socket = ctx.wrap_socket(server.socket, server_side=True)
print(server.server_address[1], flush=True)
server.serve_forever()
