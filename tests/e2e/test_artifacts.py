"""Artifact proxy end to end: uploads and downloads (text, binary, 0 B to 100 MiB streamed),
listing semantics, every hostile path, aborted and crashed uploads, error codes."""
import hashlib
import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(__file__))
from kilntest import KilnServer, main  # noqa: E402
from artifactlib import (PROXY, all_files, create_run, get_bytes, list_dir, partial_put,  # noqa: E402
                         put_bytes, rss_kib, streamed_get, streamed_put, wait_for)

MPU_MESSAGE = "Multipart upload is not supported for the current artifact repository"


class ArtifactProxy(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KilnServer().start()
        cls.root = os.path.join(cls.srv.dir, "artifacts")

    @classmethod
    def tearDownClass(cls):
        cls.srv.__exit__(None, None, None)

    def assert_error(self, r, status, code, prefix=None):
        self.assertEqual(r.status, status, r.body)
        body = json.loads(r.body)
        self.assertEqual(body["error_code"], code)
        if prefix is not None:
            self.assertTrue(body["message"].startswith(prefix), body["message"])
        return body

    def test_roundtrip_text_and_binary(self):
        cases = {
            "rt/empty.bin": b"",
            "rt/one.bin": b"\x00",
            "rt/notes.txt": "héllo, wörld\nline 2\n".encode("utf-8"),
            "rt/deep/er/MLmodel": b"artifact_path: model\nflavors: {}\n",
            "rt/mib.bin": os.urandom(1 << 20),
            "rt/all-bytes.bin": bytes(range(256)) * 17,
            "rt/with space & 100%.txt": b"odd name",
        }
        for path, data in cases.items():
            r = put_bytes(self.srv, path, data)
            self.assertEqual(r.status, 200, (path, r.body))
            self.assertEqual(json.loads(r.body), {})
        for path, data in cases.items():
            r = get_bytes(self.srv, path)
            self.assertEqual(r.status, 200, path)
            self.assertEqual(r.body, data, path)
            self.assertEqual(r.headers["X-Content-Type-Options"], "nosniff")
            self.assertTrue(r.headers["Content-Disposition"].startswith("attachment; filename="))
            self.assertEqual(int(r.headers["Content-Length"]), len(data))
            # Stored bytes are exactly the uploaded ones.
            with open(os.path.join(self.root, path), "rb") as f:
                self.assertEqual(f.read(), data)
        self.assertEqual(get_bytes(self.srv, "rt/notes.txt").headers["Content-Type"],
                         "text/plain; charset=utf-8")
        self.assertEqual(get_bytes(self.srv, "rt/deep/er/MLmodel").headers["Content-Type"],
                         "text/plain; charset=utf-8")
        self.assertEqual(get_bytes(self.srv, "rt/one.bin").headers["Content-Type"],
                         "application/octet-stream")
        self.assertEqual(get_bytes(self.srv, "rt/notes.txt").headers["Content-Disposition"],
                         'attachment; filename="notes.txt"')
        # Replacing a file is atomic and leaves only the new bytes.
        self.assertEqual(put_bytes(self.srv, "rt/notes.txt", b"v2").status, 200)
        self.assertEqual(get_bytes(self.srv, "rt/notes.txt").body, b"v2")
        # The ajax prefix is the same service.
        r = self.srv.request("GET", "/ajax-api/2.0/mlflow-artifacts/artifacts/rt/one.bin")
        self.assertEqual((r.status, r.body), (200, b"\x00"))

    def test_hundred_mib_streamed_without_rss_growth(self):
        pid = self.srv.proc.pid
        before = rss_kib(pid)
        total = 100 << 20
        status, body, sent_hash = streamed_put(self.srv.port, "big/model.bin", total)
        self.assertEqual((status, json.loads(body)), (200, {}))
        self.assertEqual(os.path.getsize(os.path.join(self.root, "big/model.bin")), total)
        status, headers, size, got_hash = streamed_get(self.srv.port, "big/model.bin")
        self.assertEqual((status, size), (200, total))
        self.assertEqual(got_hash, sent_hash)
        peak = rss_kib(pid, "VmHWM")
        # 100 MiB went through both ways; the server must never have held it in memory.
        self.assertLess(peak - before, 40 * 1024,
                        f"server peak RSS grew by {(peak - before) // 1024} MiB")

    def test_listing_semantics(self):
        for p, data in [("ls/r/artifacts/a.txt", b"aa"), ("ls/r/artifacts/b.bin", b"b"),
                        ("ls/r/artifacts/model/MLmodel", b"m"),
                        ("ls/r/artifacts/model/data/w.npy", b"www")]:
            self.assertEqual(put_bytes(self.srv, p, data).status, 200)
        status, body = list_dir(self.srv, "ls/r/artifacts")
        self.assertEqual(status, 200)
        # Basenames, sorted, is_dir always present, file_size for files only.
        self.assertEqual(body, {"files": [
            {"path": "a.txt", "is_dir": False, "file_size": 2},
            {"path": "b.bin", "is_dir": False, "file_size": 1},
            {"path": "model", "is_dir": True}]})
        self.assertEqual(list_dir(self.srv, "ls/r/artifacts/")[1], body)
        self.assertEqual(list_dir(self.srv, "ls/r/artifacts/model")[1], {"files": [
            {"path": "MLmodel", "is_dir": False, "file_size": 1},
            {"path": "data", "is_dir": True}]})
        # A file gives an empty listing (the client then GETs it); a missing folder too.
        self.assertEqual(list_dir(self.srv, "ls/r/artifacts/a.txt"), (200, {}))
        self.assertEqual(list_dir(self.srv, "ls/nothing/here"), (200, {}))
        # The root: no path, or an empty one.
        names = [f["path"] for f in list_dir(self.srv)[1]["files"]]
        self.assertIn("ls", names)
        self.assertEqual(list_dir(self.srv, "")[1]["files"], list_dir(self.srv)[1]["files"])

    def test_hostile_paths(self):
        outside = os.path.join(self.srv.dir, "outside")
        os.makedirs(outside, exist_ok=True)
        with open(os.path.join(outside, "secret.txt"), "w") as f:
            f.write("secret")
        os.makedirs(os.path.join(self.root, "h"), exist_ok=True)
        os.symlink(outside, os.path.join(self.root, "h", "link"))
        os.symlink(os.path.join(outside, "secret.txt"), os.path.join(self.root, "h", "file-link"))
        self.assertEqual(put_bytes(self.srv, "h/ok.txt", b"ok").status, 200)
        raw_paths = [
            "../secret.txt", "h/../../outside/secret.txt", "%2e%2e/outside/secret.txt",
            "%2E%2E/%2e%2e/etc/passwd", "h/%2e%2e/%2e%2e/x", "%2Fetc%2Fpasswd", "/etc/passwd",
            "h/./ok.txt", "h//ok.txt", "h%5c..%5cx", "h/.kiln-upload-0123.tmp",
            "h/link/secret.txt", "h/file-link",
        ]
        for raw in raw_paths:
            for method, body in (("GET", None), ("PUT", b"pwned"), ("DELETE", None)):
                r = self.srv.request(method, PROXY + "/" + raw, body=body)
                self.assertEqual(r.status, 400, (method, raw, r.body))
                self.assert_error(r, 400, "INVALID_PARAMETER_VALUE", "Invalid path")
        for raw in ["../x", "h/../..", "/etc", "%2e%2e", "%2E%2E%2Fx", "%2Fetc", "h/link",
                    "h/link/", "h/link/secret.txt", "a%5Cb", "h//ok.txt"]:
            r = self.srv.request("GET", PROXY + "?path=" + raw)
            self.assertEqual(r.status, 400, (raw, r.body))
            self.assert_error(r, 400, "INVALID_PARAMETER_VALUE", "Invalid path")
        # NUL bytes are refused before routing (bad percent-encoding) with the same code.
        for target in [PROXY + "/h/a%00b", PROXY + "?path=h%00"]:
            self.assert_error(self.srv.request("GET", target), 400, "INVALID_PARAMETER_VALUE")
            self.assert_error(self.srv.request("PUT", target, body=b"x"), 400,
                              "INVALID_PARAMETER_VALUE")
        for op in ("create", "complete", "abort"):
            r = self.srv.request("POST", f"/api/2.0/mlflow-artifacts/mpu/{op}/../x", body=b"{}",
                                 headers={"Content-Type": "application/json"})
            self.assert_error(r, 400, "INVALID_PARAMETER_VALUE", "Invalid path")
        # Nothing outside the root was read, written or deleted; links are not listed.
        self.assertEqual(sorted(os.listdir(outside)), ["secret.txt"])
        with open(os.path.join(outside, "secret.txt")) as f:
            self.assertEqual(f.read(), "secret")
        self.assertEqual(list_dir(self.srv, "h")[1],
                         {"files": [{"path": "ok.txt", "is_dir": False, "file_size": 2}]})
        self.assertFalse(os.path.exists(os.path.join(self.srv.dir, "pwned")))

    def test_error_codes(self):
        self.assertEqual(put_bytes(self.srv, "err/dir/file.txt", b"x").status, 200)
        self.assert_error(get_bytes(self.srv, "err/missing.txt"), 404, "RESOURCE_DOES_NOT_EXIST")
        self.assert_error(get_bytes(self.srv, "err/dir"), 404, "RESOURCE_DOES_NOT_EXIST")
        self.assert_error(get_bytes(self.srv, "err/dir/file.txt/below"), 404,
                          "RESOURCE_DOES_NOT_EXIST")
        # A file where a folder is, a folder where a file is.
        self.assert_error(put_bytes(self.srv, "err/dir", b"x"), 400, "INVALID_PARAMETER_VALUE")
        self.assert_error(put_bytes(self.srv, "err/dir/file.txt/below", b"x"), 400,
                          "INVALID_PARAMETER_VALUE")
        self.assert_error(self.srv.request("GET", PROXY + "/"), 400, "INVALID_PARAMETER_VALUE")
        # Multipart: NOT_IMPLEMENTED with the exact message the client falls back on.
        for op in ("create", "complete", "abort"):
            r = self.srv.request("POST", f"/api/2.0/mlflow-artifacts/mpu/{op}/err/big.bin",
                                 body=json.dumps({"path": "err/big.bin", "num_parts": 3}),
                                 headers={"Content-Type": "application/json"})
            body = self.assert_error(r, 501, "NOT_IMPLEMENTED")
            self.assertEqual(body["message"], MPU_MESSAGE)
        # Delete: a file, a folder (recursively), a missing path (fine), never the root.
        self.assertEqual(put_bytes(self.srv, "err/del/a/b.txt", b"b").status, 200)
        self.assertEqual(put_bytes(self.srv, "err/del/c.txt", b"c").status, 200)
        r = self.srv.request("DELETE", PROXY + "/err/del/c.txt")
        self.assertEqual((r.status, json.loads(r.body)), (200, {}))
        self.assertEqual(self.srv.request("DELETE", PROXY + "/err/del").status, 200)
        self.assertFalse(os.path.exists(os.path.join(self.root, "err/del")))
        self.assertEqual(self.srv.request("DELETE", PROXY + "/err/del").status, 200)
        self.assert_error(self.srv.request("DELETE", PROXY + "/"), 400, "INVALID_PARAMETER_VALUE")
        # Wrong method on a known path; unknown path under the API.
        self.assertEqual(self.srv.request("POST", PROXY + "/err/x", body=b"").status, 405)
        self.assert_error(self.srv.request("GET", "/api/2.0/mlflow-artifacts/nope"), 404,
                          "ENDPOINT_NOT_FOUND")

    def test_body_over_limit_refused_before_reading(self):
        # 20 GiB declared against the 10 GiB limit: answered before any byte is read.
        r = self.srv.request("PUT", PROXY + "/limit/huge.bin",
                             headers={"Content-Length": str(20 << 30)}, body=None, timeout=10)
        self.assertEqual(r.status, 413)
        self.assertEqual(json.loads(r.body)["error_code"], "BAD_REQUEST")
        self.assertFalse(os.path.exists(os.path.join(self.root, "limit")))

    def test_aborted_upload_leaves_nothing(self):
        s = partial_put(self.srv.port, "abort/half.bin", declared=8 << 20, send=3 << 20)
        # The temporary file exists while the body is arriving, hidden from listings.
        self.assertTrue(wait_for(lambda: len(all_files(os.path.join(self.root, "abort"))) == 1
                                 if os.path.isdir(os.path.join(self.root, "abort")) else False))
        self.assertEqual(list_dir(self.srv, "abort"), (200, {}))
        self.assert_error(get_bytes(self.srv, "abort/half.bin"), 404, "RESOURCE_DOES_NOT_EXIST")
        s.close()
        # Client gone: the upload is discarded, not a byte remains on disk.
        self.assertTrue(wait_for(lambda: all_files(os.path.join(self.root, "abort")) == []),
                        all_files(os.path.join(self.root, "abort")))
        self.assertEqual(list_dir(self.srv, "abort"), (200, {}))
        self.assert_error(get_bytes(self.srv, "abort/half.bin"), 404, "RESOURCE_DOES_NOT_EXIST")

    def test_concurrent_uploads(self):
        blobs = [bytes([i]) * (256 << 10) for i in range(6)]
        results = []

        def worker(i):
            results.append(put_bytes(self.srv, f"conc/f{i % 3}.bin", blobs[i]).status)
            results.append(put_bytes(self.srv, "conc/same.bin", blobs[i]).status)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(6)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        self.assertEqual(results, [200] * 12)
        # Each file is one whole upload, never a mix; no temporary file is left.
        for name in ["f0.bin", "f1.bin", "f2.bin", "same.bin"]:
            body = get_bytes(self.srv, "conc/" + name).body
            self.assertIn(body, blobs)
        self.assertEqual(all_files(os.path.join(self.root, "conc")),
                         ["f0.bin", "f1.bin", "f2.bin", "same.bin"])

    def test_tracking_artifacts_list(self):
        run_id, uri = create_run(self.srv)
        self.assertTrue(uri.startswith("mlflow-artifacts:/0/"), uri)
        rel = uri[len("mlflow-artifacts:/"):]
        for p in ["a.txt", "model/MLmodel", "model/data/x.bin"]:
            self.assertEqual(put_bytes(self.srv, f"{rel}/{p}", b"123").status, 200)
        data = self.srv.ok("GET", "/artifacts/list", {"run_id": run_id})
        self.assertEqual(data, {"root_uri": uri, "files": [
            {"path": "a.txt", "is_dir": False, "file_size": 3},
            {"path": "model", "is_dir": True}]})
        # Run-relative paths below a folder; run_uuid works too (older clients).
        data = self.srv.ok("GET", "/artifacts/list", {"run_uuid": run_id, "path": "model"})
        self.assertEqual(data["files"], [
            {"path": "model/MLmodel", "is_dir": False, "file_size": 3},
            {"path": "model/data", "is_dir": True}])
        data = self.srv.ok("GET", "/artifacts/list", {"run_id": run_id, "path": "a.txt"})
        self.assertEqual(data, {"root_uri": uri})
        self.assertEqual(self.srv.ok("GET", "/artifacts/list", {"run_id": run_id},
                                     prefix="/ajax-api/2.0/mlflow")["root_uri"], uri)
        status, body = self.srv.api("GET", "/artifacts/list", {"run_id": run_id, "path": "../x"})
        self.assertEqual((status, body["error_code"]), (400, "INVALID_PARAMETER_VALUE"))
        status, body = self.srv.api("GET", "/artifacts/list", {"run_id": "f" * 32})
        self.assertEqual((status, body["error_code"]), (404, "RESOURCE_DOES_NOT_EXIST"))
        status, body = self.srv.api("GET", "/artifacts/list", {})
        self.assertEqual((status, body["error_code"]), (400, "INVALID_PARAMETER_VALUE"))
        self.assertIn("run_id", body["message"])


class CrashDuringUpload(unittest.TestCase):
    def test_kill9_mid_upload_leaves_no_partial_file(self):
        with KilnServer() as srv:
            root = os.path.join(srv.dir, "artifacts")
            self.assertEqual(put_bytes(srv, "crash/model.bin", b"old version").status, 200)
            s = partial_put(srv.port, "crash/model.bin", declared=64 << 20, send=5 << 20)
            s2 = partial_put(srv.port, "crash/new.bin", declared=64 << 20, send=5 << 20)
            # Wait until both temporary files hold data, then crash the server.
            self.assertTrue(wait_for(lambda: len(all_files(os.path.join(root, "crash"))) == 3))
            srv.kill9()
            s.close()
            s2.close()
            on_disk = all_files(os.path.join(root, "crash"))
            self.assertEqual(len(on_disk), 3, on_disk)
            self.assertTrue(all(f.startswith(".kiln-upload-") or f == "model.bin"
                                for f in on_disk), on_disk)
            srv.start()
            # The old file is intact, the new one absent, and the leftovers are invisible.
            self.assertEqual(get_bytes(srv, "crash/model.bin").body, b"old version")
            self.assertEqual(get_bytes(srv, "crash/new.bin").status, 404)
            self.assertEqual(list_dir(srv, "crash")[1], {"files": [
                {"path": "model.bin", "is_dir": False, "file_size": 11}]})
            # Uploading again works normally.
            self.assertEqual(put_bytes(srv, "crash/new.bin", b"fresh").status, 200)
            self.assertEqual(get_bytes(srv, "crash/new.bin").body, b"fresh")


if __name__ == "__main__":
    main()
