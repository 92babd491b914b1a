#!/usr/bin/python3
"""The "Python server" stand-in for the serving benchmark (bench/run_serve_bench.py).

MLflow's scoring server is not installable here (no PyPI). This is the honest stand-in for
what a team would otherwise run: Python's standard-library HTTP server (threading, HTTP/1.1
keep-alive) in front of the same scikit-learn model, answering MLflow's protocol
(POST /invocations with {"dataframe_split": {"columns", "data"}} -> {"predictions": [...]}).
It parses JSON with the json module and predicts with numpy + scikit-learn (no pandas, which
MLflow would add on top), so it is, if anything, faster than MLflow's own server.

    /usr/bin/python3 bench/python_server.py MODEL.pkl PORT
"""
import json
import pickle
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np


def main():
    with open(sys.argv[1], "rb") as f:
        model = pickle.load(f)
    port = int(sys.argv[2])

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # TCP_NODELAY, as any production server sets: without it the header and body writes
        # meet the client's delayed ACK and every answer waits 40 ms.
        disable_nagle_algorithm = True

        def do_GET(self):
            self.reply(200, b"\n")

        def do_POST(self):
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            try:
                doc = json.loads(body)["dataframe_split"]
                X = np.asarray(doc["data"], dtype=np.float64)
                out = json.dumps({"predictions": model.predict(X).tolist()}).encode()
                self.reply(200, out)
            except Exception as e:  # noqa: BLE001 - a bad request must not kill the server
                self.reply(400, json.dumps({"error_code": "BAD_REQUEST",
                                            "message": str(e)}).encode())

        def reply(self, status, data):
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    class Server(ThreadingHTTPServer):
        def handle_error(self, request, client_address):
            pass  # a client closing a keep-alive connection is not news

    server = Server(("127.0.0.1", port), Handler)
    server.daemon_threads = True
    print(f"python stand-in listening on {port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
