"""An OTLP/HTTP sink for benchmarks: answers every POST with 200 (an empty protobuf
ExportTraceServiceResponse) and counts requests and bytes, so roles export their spans as they
would to a collector without a collector's own cost on the machine. Prints its counts on SIGTERM.

Usage: python3 bench/otlp_sink.py PORT"""

import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

received = {"requests": 0, "bytes": 0}
lock = threading.Lock()  # the server answers each request on its own thread


class Sink(BaseHTTPRequestHandler):
    def do_POST(self):
        size = len(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        with lock:
            received["bytes"] += size
            received["requests"] += 1
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def stop(*_):
    print(f"otlp sink: {received['requests']} exports, {received['bytes']} bytes", flush=True)
    sys.exit(0)


signal.signal(signal.SIGTERM, stop)
ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
