"""kiln server basics: start-up, health, version, routing errors, body limits, graceful stop."""
import json
import os
import signal
import socket
import threading
import time
import unittest

from kilntest import KilnServer, run_kiln, main


class CliBasics(unittest.TestCase):
    def test_version_and_help(self):
        rc, out, _ = run_kiln("--version")
        self.assertEqual(rc, 0)
        self.assertRegex(out, r"^kiln \d+\.\d+\.\d+")
        rc, out, _ = run_kiln("help")
        self.assertEqual(rc, 0)
        self.assertIn("server", out)
        rc, out, _ = run_kiln("server", "--help")
        self.assertEqual(rc, 0)
        for flag in ("--host", "--port", "--backend-store-uri", "--artifacts-destination",
                     "--workers"):
            self.assertIn(flag, out)
        rc, out, _ = run_kiln("help", "server")
        self.assertEqual(rc, 0)
        self.assertIn("--backend-store-uri", out)

    def test_usage_errors_exit_2_with_one_line(self):
        rc, _, err = run_kiln("no-such-command")
        self.assertEqual(rc, 2)
        self.assertIn("unknown command 'no-such-command'", err)
        rc, _, err = run_kiln("server", "--bogus")
        self.assertEqual(rc, 2)
        self.assertEqual(len(err.strip().splitlines()), 1)
        self.assertIn("--bogus", err)
        rc, _, err = run_kiln("server", "--port", "abc")
        self.assertEqual(rc, 2)
        self.assertIn("not an integer", err)

    def test_bad_store_uri_is_refused_clearly(self):
        rc, _, err = run_kiln("server", "--port", "0", "--backend-store-uri", "mysql://x/y")
        self.assertEqual(rc, 2)
        self.assertIn("mysql", err)


class ServerBasics(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = KilnServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def test_health_and_version(self):
        r = self.srv.request("GET", "/health")
        self.assertEqual((r.status, r.body), (200, b"OK"))
        r = self.srv.request("GET", "/version")
        self.assertEqual(r.status, 200)
        major, minor = (int(x) for x in r.body.decode().split(".")[:2])
        self.assertGreaterEqual((major, minor), (3, 4))  # clients gate span logging on >= 3.4

    def test_unknown_endpoint_is_json_endpoint_not_found(self):
        for prefix in ("/api/2.0/mlflow", "/ajax-api/2.0/mlflow", "/api/3.0/mlflow"):
            status, body = self.srv.api("POST", "/traces/nope", {}, prefix=prefix)
            self.assertEqual(status, 404)
            self.assertEqual(body["error_code"], "ENDPOINT_NOT_FOUND")

    def test_wrong_method_is_405(self):
        r = self.srv.request("DELETE", "/api/2.0/mlflow/experiments/get")
        self.assertEqual(r.status, 405)
        self.assertIn("error_code", r.json())

    def test_both_prefixes_serve_the_same_api(self):
        data = self.srv.ok("GET", "/experiments/get", {"experiment_id": "0"})
        self.assertEqual(data["experiment"]["name"], "Default")
        st, data2 = self.srv.api("GET", "/experiments/get", {"experiment_id": "0"},
                                 prefix="/ajax-api/2.0/mlflow")
        self.assertEqual(st, 200)
        self.assertEqual(data, data2)

    def test_malformed_json_and_content_type(self):
        r = self.srv.request("POST", "/api/2.0/mlflow/experiments/create", body=b'{"name": ',
                             headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 400)
        self.assertIn("line 1", r.json()["message"])
        r = self.srv.request("POST", "/api/2.0/mlflow/experiments/create", body=b'{"name":"x"}',
                             headers={"Content-Type": "text/plain"})
        self.assertEqual(r.status, 400)
        self.assertEqual(r.json()["error_code"], "INVALID_PARAMETER_VALUE")
        # Nothing was created by either request.
        st, body = self.srv.api("GET", "/experiments/get-by-name", {"experiment_name": "x"})
        self.assertEqual(st, 404)

    def test_missing_and_wrong_type_fields(self):
        st, body = self.srv.api("POST", "/experiments/create", {})
        self.assertEqual(st, 400)
        self.assertEqual(body["message"], "Missing value for required parameter 'name'")
        st, body = self.srv.api("POST", "/experiments/create", {"name": 12})
        self.assertEqual(st, 400)
        self.assertIn("'name'", body["message"])
        st, body = self.srv.api("GET", "/experiments/get", {"experiment_id": "abc"})
        self.assertEqual(st, 400)

    def test_body_over_the_limit_is_413_and_changes_nothing(self):
        big = json.dumps({"name": "huge", "tags": [{"key": "k", "value": "v" * (17 << 20)}]})
        r = self.srv.request("POST", "/api/2.0/mlflow/experiments/create", body=big.encode(),
                             headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 413)
        st, _ = self.srv.api("GET", "/experiments/get-by-name", {"experiment_name": "huge"})
        self.assertEqual(st, 404)

    def test_double_encoded_body_from_old_clients(self):
        body = json.dumps(json.dumps({"name": "double-encoded"}))
        r = self.srv.request("POST", "/api/2.0/mlflow/experiments/create", body=body.encode(),
                             headers={"Content-Type": "application/json"})
        self.assertEqual(r.status, 200, r.body)

    def test_garbage_requests_do_not_kill_the_server(self):
        for raw in (b"\x00\x01\x02\r\n\r\n", b"GET /%zz HTTP/1.1\r\nHost: x\r\n\r\n",
                    b"POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Length: 99999999999999999999\r\n\r\n"):
            with socket.create_connection(("127.0.0.1", self.srv.port), timeout=5) as s:
                s.sendall(raw)
                try:
                    s.recv(4096)
                except OSError:
                    pass
        self.assertEqual(self.srv.request("GET", "/health").status, 200)


class GracefulStop(unittest.TestCase):
    def test_sigterm_lets_the_request_in_flight_finish(self):
        srv = KilnServer().start()
        try:
            body = json.dumps({"name": "in-flight"}).encode()
            s = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
            s.sendall(b"POST /api/2.0/mlflow/experiments/create HTTP/1.1\r\nHost: x\r\n"
                      b"Content-Type: application/json\r\nContent-Length: "
                      + str(len(body)).encode() + b"\r\n\r\n" + body[:5])
            time.sleep(0.3)
            srv.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            self.assertIsNone(srv.proc.poll(), "server quit with a request in flight")
            s.sendall(body[5:])
            reply = b""
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                chunk = s.recv(4096)
                if not chunk:
                    break
                reply += chunk
            s.close()
            self.assertTrue(reply.startswith(b"HTTP/1.1 200"), reply)
            self.assertIn(b'"experiment_id"', reply)
            self.assertEqual(srv.proc.wait(timeout=10), 0)
            srv.proc = None
            srv.stderr_file.close()
            # The acknowledged write survived the stop.
            srv2 = KilnServer(workdir=srv.dir, port=srv.port).start()
            st, data = srv2.api("GET", "/experiments/get-by-name",
                                {"experiment_name": "in-flight"})
            srv2.stop()
            self.assertEqual(st, 200)
        finally:
            if srv.proc is not None:
                srv.stop()

    def test_data_folder_is_created(self):
        srv = KilnServer()
        nested = os.path.join(srv.dir, "a", "b")
        srv.extra = ["--backend-store-uri", f"sqlite:///{nested}/kiln.db",
                     "--artifacts-destination", f"{nested}/art"]
        with srv:
            self.assertTrue(os.path.isfile(os.path.join(nested, "kiln.db")))
            self.assertTrue(os.path.isdir(os.path.join(nested, "art")))


class ThreadingModels(unittest.TestCase):
    """Both threading models: a thread per connection (the default) and a pool of N threads
    (--workers N). Long polls park (the pool) or wait on their own thread (per connection);
    either way the other clients are answered at once, and one event ends every poll."""

    POLLS = 6

    def check(self, srv):
        last = srv.ok("GET", "/events", prefix="/api/kiln/v1")["last_id"]
        answers = [None] * self.POLLS

        def poll(i):
            answers[i] = srv.api("GET", "/events", {"after": last, "wait": 20},
                                 prefix="/api/kiln/v1")

        threads = [threading.Thread(target=poll, args=(i,)) for i in range(self.POLLS)]
        for t in threads:
            t.start()
        time.sleep(0.5)
        self.assertTrue(all(t.is_alive() for t in threads))  # all waiting for an event
        # More polls than pool threads: the other clients are still answered at once.
        t0 = time.time()
        self.assertEqual(srv.request("GET", "/health").status, 200)
        srv.ok("POST", "/experiments/create", {"name": "while-polling"})
        self.assertLess(time.time() - t0, 2)
        srv.ok("POST", "/registered-models/create", {"name": "ends-the-polls"})
        for t in threads:
            t.join(10)
        self.assertLess(time.time() - t0, 10)
        for status, body in answers:
            self.assertEqual(status, 200)
            self.assertEqual([e["type"] for e in body["events"]], ["registered_model.created"])

    def test_thread_per_connection_is_the_default(self):
        with KilnServer() as srv:
            self.assertIn("a thread per connection", srv.stderr())
            self.check(srv)

    def test_pool_smaller_than_the_clients(self):
        with KilnServer("--workers", "2") as srv:
            self.assertIn("2 worker threads", srv.stderr())
            self.check(srv)


if __name__ == "__main__":
    main()
