"""`kiln artifacts list|download` end to end.

The CLI asks the tracking server for the run (runs/get) and then talks to the artifact proxy
named by the run's artifact_uri. Both are the real kiln server. A small stand-in tracking server (a
stdlib HTTP server answering runs/get only) covers the cases the real one cannot produce on
demand: artifact URIs naming another host (mlflow-artifacts://host:port/..., http(s) proxy
URIs), URIs the CLI cannot follow (s3://), and a hostile server listing names like "../x".
"""
import json
import os
import pty
import shutil
import subprocess
import sys
import tempfile
import threading
import unittest
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(__file__))
from kilntest import KILN_BIN, KilnServer, check_sanitizers, main, run_kiln  # noqa: E402
from artifactlib import create_run, put_bytes  # noqa: E402

FILES = {
    "a.txt": b"alpha\n",
    "empty.bin": b"",
    "model/MLmodel": b"flavors: {}\n",
    "model/data/weights.bin": bytes(range(256)) * 4096,  # 1 MiB, every byte value
}


class StubTracking:
    """Answers runs/get with a chosen artifact_uri; optionally serves a hostile listing."""

    def __init__(self, runs, hostile_listing=None):
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *a):
                pass

            def reply(self, status, doc):
                body = json.dumps(doc).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def do_GET(self):
                url = urllib.parse.urlparse(self.path)
                q = urllib.parse.parse_qs(url.query)
                if url.path == "/api/2.0/mlflow/runs/get":
                    run_id = q.get("run_id", [""])[0]
                    if run_id not in stub.runs:
                        return self.reply(404, {"error_code": "RESOURCE_DOES_NOT_EXIST",
                                                "message": f"Run with id={run_id} not found"})
                    return self.reply(200, {"run": {"info": {
                        "run_id": run_id, "artifact_uri": stub.runs[run_id]}}})
                if url.path == "/api/2.0/mlflow-artifacts/artifacts" and stub.hostile:
                    return self.reply(200, {"files": stub.hostile})
                self.reply(404, {"error_code": "ENDPOINT_NOT_FOUND", "message": "no"})

        self.runs = runs
        self.hostile = hostile_listing
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.base = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()


def tree(root):
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, root)] = fh.read()
    return out


class ArtifactsCli(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KilnServer().start()
        cls.run_id, cls.uri = create_run(cls.srv)
        cls.rel = cls.uri[len("mlflow-artifacts:/"):]
        for p, data in FILES.items():
            assert put_bytes(cls.srv, f"{cls.rel}/{p}", data).status == 200
        port = cls.srv.port
        cls.stub = StubTracking({
            cls.run_id: f"mlflow-artifacts://127.0.0.1:{port}/{cls.rel}",
            "http-run": f"http://127.0.0.1:{port}/api/2.0/mlflow-artifacts/artifacts/{cls.rel}",
            "s3-run": "s3://bucket/0/abc/artifacts",
        }).__enter__()
        cls.tmp = tempfile.mkdtemp(prefix="kiln-cli-")

    @classmethod
    def tearDownClass(cls):
        cls.stub.__exit__()
        cls.srv.__exit__(None, None, None)
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def tracker(self):
        return self.srv.base

    def kiln(self, *args, uri=None):
        return run_kiln("artifacts", *args, "--tracking-uri", uri or self.tracker())

    def dest(self, name):
        d = os.path.join(self.tmp, name)
        shutil.rmtree(d, ignore_errors=True)
        return d

    def test_list_table_and_json(self):
        code, out, err = self.kiln("list", self.run_id)
        self.assertEqual(code, 0, err)
        lines = out.splitlines()
        self.assertEqual(lines[0].split(), ["PATH", "TYPE", "SIZE"])
        rows = [l.split()[:2] for l in lines[2:]]
        self.assertEqual(rows, [["a.txt", "file"], ["empty.bin", "file"], ["model/", "dir"]])
        code, out, err = self.kiln("list", self.run_id, "model", "--json")
        self.assertEqual(code, 0, err)
        doc = json.loads(out)
        self.assertTrue(doc["root_uri"].endswith(self.rel))
        self.assertEqual(doc["files"], [
            {"path": "model/MLmodel", "is_dir": False, "file_size": len(FILES["model/MLmodel"])},
            {"path": "model/data", "is_dir": True}])
        # A file or a missing folder lists as nothing.
        code, out, _ = self.kiln("list", self.run_id, "a.txt", "--json")
        self.assertEqual((code, json.loads(out)["files"]), (0, []))

    def test_download_file_folder_and_all(self):
        d = self.dest("one")
        os.makedirs(d)
        # Into an existing folder: under its own name; the local path is printed.
        code, out, err = self.kiln("download", self.run_id, "model/data/weights.bin", d)
        self.assertEqual(code, 0, err)
        self.assertEqual(out.strip(), os.path.join(d, "weights.bin"))
        self.assertEqual(tree(d), {"weights.bin": FILES["model/data/weights.bin"]})
        # To a new name.
        target = os.path.join(d, "renamed.txt")
        self.assertEqual(self.kiln("download", self.run_id, "a.txt", target)[0], 0)
        with open(target, "rb") as f:
            self.assertEqual(f.read(), FILES["a.txt"])
        # A folder, recursively.
        d = self.dest("folder")
        code, out, err = self.kiln("download", self.run_id, "model", d)
        self.assertEqual(code, 0, err)
        self.assertEqual(tree(d), {"MLmodel": FILES["model/MLmodel"],
                                   "data/weights.bin": FILES["model/data/weights.bin"]})
        # Everything.
        d = self.dest("all")
        self.assertEqual(self.kiln("download", self.run_id, ".", d)[0], 0)
        self.assertEqual(tree(d), FILES)

    def test_other_artifact_hosts(self):
        # mlflow-artifacts://host:port/... and http proxy URIs name the artifact server.
        for run in [self.run_id, "http-run"]:
            d = self.dest("host-" + run[:4])
            code, out, err = self.kiln("download", run, ".", d, uri=self.stub.base)
            self.assertEqual(code, 0, (run, err))
            self.assertEqual(tree(d), FILES)

    def test_errors(self):
        d = self.dest("err")
        os.makedirs(d)
        code, _, err = self.kiln("download", self.run_id, "nope.txt", d)
        self.assertEqual(code, 2)
        self.assertIn("nope.txt", err)
        self.assertEqual(os.listdir(d), [])  # no partial or temporary file left
        code, _, err = self.kiln("download", self.run_id, "../x", d)
        self.assertEqual(code, 2)
        self.assertIn("Invalid path", err)
        code, _, err = self.kiln("list", "0123456789abcdef0123456789abcdef")
        self.assertEqual(code, 2)
        self.assertIn("not found", err)
        code, _, err = self.kiln("list", "s3-run", uri=self.stub.base)
        self.assertEqual(code, 2)
        self.assertIn("s3://bucket", err)
        code, _, err = run_kiln("artifacts", "list", "r", "--tracking-uri", "http://127.0.0.1:1")
        self.assertEqual(code, 2)
        self.assertEqual(len(err.strip().splitlines()), 1)
        for args in [(), ("frob",), ("list",), ("download", "r", "p"), ("list", "r", "p", "x"),
                     ("--bogus",)]:
            self.assertEqual(run_kiln("artifacts", *args)[0], 2, args)
        code, out, _ = run_kiln("artifacts", "--help")
        self.assertEqual(code, 0)
        self.assertIn("download RUN_ID PATH DEST", out)

    def test_hostile_server_names(self):
        for name in ["../evil", "a/b", "..", "", "x\u0000y"]:
            with StubTracking({"r": "mlflow-artifacts:/0/r/artifacts"},
                              hostile_listing=[{"path": name, "is_dir": False}]) as stub:
                d = self.dest("hostile")
                os.makedirs(d)
                code, _, err = run_kiln("artifacts", "download", "r", ".", d,
                                        "--tracking-uri", stub.base)
                self.assertEqual(code, 2, (name, err))
                # (A NUL inside a JSON string is already refused by the JSON parser.)
                self.assertTrue("unsafe" in err or "not JSON" in err, err)
                self.assertEqual(os.listdir(d), [])
                self.assertFalse(os.path.exists(os.path.join(self.tmp, "evil")))

    def test_tracking_uri_sources(self):
        env = {"KILN_TRACKING_URI": self.tracker(), "MLFLOW_TRACKING_URI": "http://127.0.0.1:1"}
        self.assertEqual(run_kiln("artifacts", "list", self.run_id, env=env)[0], 0)
        env = {"MLFLOW_TRACKING_URI": self.tracker()}
        self.assertEqual(run_kiln("artifacts", "list", self.run_id, env=env)[0], 0)
        env = {"KILN_TRACKING_URI": "http://127.0.0.1:1"}
        self.assertEqual(run_kiln("artifacts", "list", self.run_id, "--tracking-uri",
                                  self.tracker(), env=env)[0], 0)
        self.assertEqual(run_kiln("artifacts", "list", self.run_id, env=env)[0], 2)

    def test_progress_on_a_terminal(self):
        d = self.dest("tty")
        master, slave = pty.openpty()
        env = dict(os.environ)
        env.pop("KILN_TRACKING_URI", None)
        p = subprocess.run([KILN_BIN, "artifacts", "download", self.run_id, ".", d,
                            "--tracking-uri", self.tracker()],
                           stdout=subprocess.PIPE, stderr=slave, env=env, timeout=60)
        os.close(slave)
        chunks = []
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            chunks.append(data)
        os.close(master)
        text = b"".join(chunks).decode(errors="replace")
        check_sanitizers(text, "kiln artifacts download")
        self.assertEqual(p.returncode, 0, text)
        self.assertIn("downloading 1/4", text)
        self.assertIn("downloaded 4 files (1.0 MiB)", text)
        # Not on a pipe: stderr stays quiet for scripts.
        code, _, err = self.kiln("download", self.run_id, ".", self.dest("pipe"))
        self.assertEqual((code, err), (0, ""))


if __name__ == "__main__":
    main()
