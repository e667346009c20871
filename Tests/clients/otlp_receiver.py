"""An OTLP/HTTP trace receiver for the tests: accepts `POST /v1/traces` (protobuf, as swift-otel
exports it), decodes each request with the official `opentelemetry-proto` definitions and keeps
every span, so a test can look up one order's trace."""

import gzip
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest, ExportTraceServiceResponse


def _value(any_value):
    kind = any_value.WhichOneof("value")
    return getattr(any_value, kind) if kind else None


class Span:
    def __init__(self, resource, span):
        self.resource = resource
        self.service = resource.get("service.name", "")
        self.trace_id = span.trace_id.hex()
        self.span_id = span.span_id.hex()
        self.parent_span_id = span.parent_span_id.hex()
        self.name = span.name
        self.kind = span.kind
        self.start = span.start_time_unix_nano
        self.end = span.end_time_unix_nano
        self.attributes = {attribute.key: _value(attribute.value) for attribute in span.attributes}

    def __repr__(self):
        return f"<{self.service} {self.name} {self.span_id} parent={self.parent_span_id or '-'} {self.attributes}>"


class OTLPReceiver:
    def __init__(self, tls=None, client_ca=None):
        """`tls`: (certificate file, key file) to serve HTTPS only, else plain HTTP; with
        `client_ca`, a client must also present a certificate that CA issued (mutual TLS)."""
        self.spans = []
        self.requests = 0
        self.refused = 0
        self.lock = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                if self.headers.get("Content-Encoding") == "gzip":
                    body = gzip.decompress(body)
                if self.path != "/v1/traces" or self.headers.get("Content-Type") != "application/x-protobuf":
                    with receiver.lock:
                        receiver.refused += 1
                    self.send_response(415)
                    self.end_headers()
                    return
                request = ExportTraceServiceRequest()
                request.ParseFromString(body)
                spans = []
                for resource_spans in request.resource_spans:
                    resource = {attribute.key: _value(attribute.value) for attribute in resource_spans.resource.attributes}
                    for scope_spans in resource_spans.scope_spans:
                        spans += [Span(resource, span) for span in scope_spans.spans]
                with receiver.lock:
                    receiver.requests += 1
                    receiver.spans += spans
                    receiver.lock.notify_all()
                answer = ExportTraceServiceResponse().SerializeToString()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"
        if tls:
            # HTTPS only: the listening socket hands out TLS connections (handshake on first read).
            cert, key = tls
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(cert, key)
            if client_ca:
                context.verify_mode = ssl.CERT_REQUIRED
                context.load_verify_locations(client_ca)
            self.server.socket = context.wrap_socket(self.server.socket, server_side=True, do_handshake_on_connect=False)
            self.endpoint = f"https://localhost:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.server.shutdown()

    def wait_for(self, predicate, timeout=30):
        """The spans once `predicate(spans)` holds; fails after `timeout` seconds with what arrived."""
        with self.lock:
            if not self.lock.wait_for(lambda: predicate(self.spans), timeout=timeout):
                raise AssertionError(f"spans never matched; received {len(self.spans)}: {self.spans[-40:]}")
            return list(self.spans)
