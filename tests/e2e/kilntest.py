"""Shared harness for kiln's end-to-end tests (Python 3 standard library only).

- KILN_BIN: the binary under test (set by meson; defaults to build/kiln).
- KilnServer: starts `kiln server` (or any long-running kiln command) on a free loopback port
  with its store and artifacts in a temporary folder, waits until it answers, and stops it.
- run_kiln(): runs a CLI command and returns (exit code, stdout, stderr).
- Every process's stderr is checked for AddressSanitizer / UBSan / LeakSanitizer reports:
  a report fails the test even when the exit code looks fine.
"""
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest
import urllib.parse

SRC = os.environ.get("KILN_SRC", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
KILN_BIN = os.environ.get("KILN_BIN", os.path.join(SRC, "build", "kiln"))
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:",
                     "ThreadSanitizer", "AddressSanitizer:DEADLYSIGNAL")


def check_sanitizers(text, what):
    for marker in SANITIZER_MARKERS:
        if marker in text:
            raise AssertionError(f"sanitizer report from {what}:\n{text[-6000:]}")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_kiln(*args, env=None, input=None, timeout=300, cwd=None):
    """Runs `kiln ARGS`; returns (returncode, stdout, stderr) as text."""
    full_env = dict(os.environ)
    full_env.pop("MLFLOW_TRACKING_URI", None)
    full_env.pop("KILN_TRACKING_URI", None)
    if env:
        full_env.update(env)
    p = subprocess.run([KILN_BIN, *[str(a) for a in args]], capture_output=True, text=True,
                       env=full_env, input=input, timeout=timeout, cwd=cwd)
    check_sanitizers(p.stderr, "kiln " + " ".join(str(a) for a in args))
    return p.returncode, p.stdout, p.stderr


class Response:
    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def json(self):
        return json.loads(self.body.decode("utf-8"))


class KilnServer:
    """A real `kiln server` in a temporary folder. Use as a context manager."""

    def __init__(self, *extra_args, workdir=None, command=("server",), port=None, env=None,
                 ready_path="/health"):
        self.own_dir = workdir is None
        self.dir = workdir or tempfile.mkdtemp(prefix="kiln-e2e-")
        self.port = port or free_port()
        self.extra = list(extra_args)
        self.command = list(command)
        self.env = env
        self.ready_path = ready_path
        self.proc = None
        self.stderr_path = os.path.join(self.dir, f"server-{self.port}.stderr")
        self.base = f"http://127.0.0.1:{self.port}"

    def default_args(self):
        if self.command != ["server"]:
            return []
        return ["--backend-store-uri", f"sqlite:///{self.dir}/kiln.db",
                "--artifacts-destination", f"{self.dir}/artifacts"]

    def start(self, timeout=20):
        args = [KILN_BIN, *self.command, "--host", "127.0.0.1", "--port", str(self.port),
                *self.default_args(), *self.extra]
        env = dict(os.environ)
        if self.env:
            env.update(self.env)
        self.stderr_file = open(self.stderr_path, "ab")
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=self.stderr_file,
                                     env=env, cwd=self.dir)
        deadline = time.time() + timeout
        while time.time() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.stderr()}")
            try:
                r = self.request("GET", self.ready_path, timeout=2)
                if r.status == 200:
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise AssertionError(f"server did not answer within {timeout}s:\n{self.stderr()}")

    def stderr(self):
        try:
            with open(self.stderr_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self, sig=signal.SIGTERM, timeout=30):
        """Stops the server; returns its exit code. SIGKILL simulates a crash."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError("server did not stop in time")
        self.stderr_file.close()
        code = self.proc.returncode
        self.proc = None
        if sig != signal.SIGKILL:
            check_sanitizers(self.stderr(), "kiln server")
        return code

    def kill9(self):
        return self.stop(signal.SIGKILL)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        try:
            self.stop()
        finally:
            if self.own_dir:
                shutil.rmtree(self.dir, ignore_errors=True)

    # ---- HTTP ------------------------------------------------------------------------------

    def request(self, method, path, body=None, headers=None, timeout=30, query=None):
        if query:
            path = path + "?" + urllib.parse.urlencode(query, doseq=True)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=timeout)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return Response(r.status, dict(r.getheaders()), r.read())
        finally:
            conn.close()

    def api(self, method, endpoint, payload=None, prefix="/api/2.0/mlflow", query=None):
        """Calls an MLflow-style endpoint the way the MLflow client does: GET with a query
        string, everything else with a JSON body. Returns (status, parsed JSON or None)."""
        path = prefix + endpoint
        if method == "GET":
            r = self.request("GET", path, query=payload or query)
        else:
            body = json.dumps(payload if payload is not None else {})
            r = self.request(method, path, body=body,
                             headers={"Content-Type": "application/json"}, query=query)
        try:
            data = r.json() if r.body else None
        except ValueError:
            data = None
        return r.status, data

    def ok(self, method, endpoint, payload=None, **kw):
        status, data = self.api(method, endpoint, payload, **kw)
        if status != 200:
            raise AssertionError(f"{method} {endpoint} -> {status}: {data}")
        return data

    def cli(self, *args, **kw):
        env = dict(kw.pop("env", None) or {})
        env.setdefault("KILN_TRACKING_URI", self.base)
        return run_kiln(*args, env=env, **kw)


def main():
    unittest.main(verbosity=2)
