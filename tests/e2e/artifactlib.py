"""Helpers shared by the artifact e2e tests (test_artifacts*.py)."""
import hashlib
import http.client
import json
import os
import socket
import time

PROXY = "/api/2.0/mlflow-artifacts/artifacts"


def quote_path(path):
    import urllib.parse
    return urllib.parse.quote(path, safe="/")


def put_bytes(srv, path, data, content_type="application/octet-stream"):
    r = srv.request("PUT", PROXY + "/" + quote_path(path), body=data,
                    headers={"Content-Type": content_type})
    return r


def get_bytes(srv, path):
    return srv.request("GET", PROXY + "/" + quote_path(path))


def list_dir(srv, path=None):
    query = {"path": path} if path is not None else None
    r = srv.request("GET", PROXY, query=query)
    return r.status, (json.loads(r.body) if r.body else None)


def pattern_chunk(i, size):
    """Deterministic pseudo-random bytes for chunk i."""
    seed = hashlib.sha256(str(i).encode()).digest()
    reps = size // len(seed) + 1
    return (seed * reps)[:size]


def streamed_put(port, path, total, chunk=1 << 20, timeout=300):
    """PUTs `total` bytes generated chunk by chunk (never held in memory); returns
    (status, body, sha256 hex of what was sent)."""
    h = hashlib.sha256()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest("PUT", PROXY + "/" + quote_path(path))
        conn.putheader("Content-Type", "application/octet-stream")
        conn.putheader("Content-Length", str(total))
        conn.endheaders()
        sent, i = 0, 0
        while sent < total:
            n = min(chunk, total - sent)
            data = pattern_chunk(i, n)
            h.update(data)
            conn.send(data)
            sent += n
            i += 1
        r = conn.getresponse()
        return r.status, r.read(), h.hexdigest()
    finally:
        conn.close()


def streamed_get(port, path, timeout=300):
    """GETs a file in chunks; returns (status, headers, size, sha256 hex)."""
    h = hashlib.sha256()
    size = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.request("GET", PROXY + "/" + quote_path(path))
        r = conn.getresponse()
        while True:
            data = r.read(1 << 20)
            if not data:
                break
            h.update(data)
            size += len(data)
        return r.status, dict(r.getheaders()), size, h.hexdigest()
    finally:
        conn.close()


def partial_put(port, path, declared, send):
    """Opens a raw connection, sends PUT headers declaring `declared` bytes and then only
    `send` bytes; returns the still-open socket (the caller closes or abandons it)."""
    s = socket.create_connection(("127.0.0.1", port))
    head = (f"PUT {PROXY}/{quote_path(path)} HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            f"Content-Type: application/octet-stream\r\nContent-Length: {declared}\r\n\r\n")
    s.sendall(head.encode())
    sent = 0
    while sent < send:
        n = min(1 << 16, send - sent)
        s.sendall(b"x" * n)
        sent += n
    return s


def all_files(root):
    """Every file under root (relative paths), temporary ones included."""
    out = []
    for d, _, files in os.walk(root):
        for f in files:
            out.append(os.path.relpath(os.path.join(d, f), root))
    return sorted(out)


def wait_for(pred, timeout=10.0, step=0.05):
    deadline = time.time() + timeout
    while time.time() < deadline:
        if pred():
            return True
        time.sleep(step)
    return pred()


def rss_kib(pid, field="VmRSS"):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


def create_run(srv, experiment_id="0"):
    """A run to hang artifacts on (POST /runs/create); returns (run_id, artifact_uri)."""
    data = srv.ok("POST", "/runs/create", {"experiment_id": experiment_id,
                                           "start_time": int(time.time() * 1000)})
    return data["run"]["info"]["run_id"], data["run"]["info"]["artifact_uri"]
