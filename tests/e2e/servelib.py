"""Helpers for the serving e2e tests (test_serve*.py, test_predict.py, test_evaluate.py):
train scikit-learn models and export them with tools/export_sklearn.py, log them to a real
`kiln server` as run artifacts or as MLflow 3 logged models (the requests mlflow's log_model
sends), register versions, move aliases, and run `kiln serve` as a real process.

Standard library plus numpy/scikit-learn from Debian's /usr/bin/python3."""
import http.client
import json
import os
import pickle
import subprocess
import sys
import time
import urllib.parse

import numpy as np

from kilntest import KILN_BIN, SRC, KilnServer, check_sanitizers

PROXY = "/api/2.0/mlflow-artifacts/artifacts"
EXPORTER = os.path.join(SRC, "tools", "export_sklearn.py")


def iris():
    from sklearn.datasets import load_iris
    d = load_iris()
    names = ["sepal_length", "sepal_width", "petal_length", "petal_width"]
    return d.data, d.target, names


def breast_cancer():
    from sklearn.datasets import load_breast_cancer
    d = load_breast_cancer()
    names = [n.replace(" ", "_") for n in d.feature_names]
    return d.data, d.target, names


def export(est, out_dir, names, workdir):
    """Pickles a fitted estimator and runs the exporter; returns the model directory."""
    pkl = os.path.join(workdir, os.path.basename(out_dir) + ".pkl")
    with open(pkl, "wb") as f:
        pickle.dump(est, f)
    p = subprocess.run(["/usr/bin/python3", EXPORTER, pkl, out_dir, "--feature-names",
                        ",".join(names)], capture_output=True, text=True, timeout=300)
    if p.returncode != 0:
        raise AssertionError(f"export_sklearn failed: {p.stderr}")
    return out_dir


def upload_dir(srv, local_dir, remote):
    """PUTs every file of local_dir under the artifact proxy path `remote`."""
    for root, _, files in os.walk(local_dir):
        for name in files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, local_dir)
            with open(path, "rb") as f:
                data = f.read()
            target = PROXY + "/" + urllib.parse.quote(f"{remote}/{rel}", safe="/")
            r = srv.request("PUT", target, body=data,
                            headers={"Content-Type": "application/octet-stream"})
            if r.status != 200:
                raise AssertionError(f"upload of {rel} failed: {r.status} {r.body[:200]}")


def log_run_model(srv, model_dir, experiment_id="0"):
    """Logs the model as the artifacts `model/` of a new run; returns the run id."""
    run = srv.ok("POST", "/runs/create", {"experiment_id": experiment_id,
                                          "start_time": int(time.time() * 1000)})["run"]["info"]
    uri = run["artifact_uri"]
    assert uri.startswith("mlflow-artifacts:/"), uri
    upload_dir(srv, model_dir, uri[len("mlflow-artifacts:/"):] + "/model")
    srv.ok("POST", "/runs/update", {"run_id": run["run_id"], "status": "FINISHED",
                                    "end_time": int(time.time() * 1000)})
    return run["run_id"]


def log_logged_model(srv, model_dir, experiment_id="0"):
    """Logs the model as an MLflow 3 logged model (create, upload, finalize); returns its id."""
    run_id = srv.ok("POST", "/runs/create", {"experiment_id": experiment_id})["run"]["info"]["run_id"]
    info = srv.ok("POST", "/logged-models", {"experiment_id": experiment_id, "name": "model",
                                             "source_run_id": run_id})["model"]["info"]
    upload_dir(srv, model_dir, info["artifact_uri"][len("mlflow-artifacts:/"):])
    srv.ok("PATCH", f"/logged-models/{info['model_id']}",
           {"model_id": info["model_id"], "status": "LOGGED_MODEL_READY"})
    return info["model_id"], run_id


def register(srv, name, source, run_id=None):
    """Registers a version of `name` from `source`; returns the version number (int)."""
    status, _ = srv.api("POST", "/registered-models/create", {"name": name})
    assert status in (200, 400), status
    body = {"name": name, "source": source}
    if run_id:
        body["run_id"] = run_id
    return int(srv.ok("POST", "/model-versions/create", body)["model_version"]["version"])


def set_alias(srv, name, alias, version):
    srv.ok("POST", "/registered-models/alias", {"name": name, "alias": alias,
                                                "version": str(version)})


class Serve(KilnServer):
    """A real `kiln serve URI...` process (stopped and checked like KilnServer)."""

    def __init__(self, *uris, tracking=None, extra=(), workdir=None, env=None):
        env = dict(env or {})
        if tracking is not None:
            env["KILN_TRACKING_URI"] = tracking
        super().__init__(*extra, workdir=workdir, command=("serve", *uris), env=env,
                         ready_path="/ping")

    def post_json(self, path, payload, headers=None, conn=None):
        body = payload if isinstance(payload, (bytes, str)) else json.dumps(payload)
        h = {"Content-Type": "application/json", **(headers or {})}
        if conn is not None:
            conn.request("POST", path, body=body, headers=h)
            r = conn.getresponse()
            return r.status, r.read()
        r = self.request("POST", path, body=body, headers=h)
        return r.status, r.body

    def invocations(self, payload, **kw):
        status, body = self.post_json("/invocations", payload, **kw)
        return status, json.loads(body) if body[:1] in (b"{", b"[") else body

    def infer(self, model, payload, version=None, **kw):
        path = f"/v2/models/{model}" + (f"/versions/{version}" if version else "") + "/infer"
        status, body = self.post_json(path, payload, **kw)
        return status, json.loads(body)

    def metrics(self):
        return self.request("GET", "/metrics").body.decode()


def metric_value(text, name, **labels):
    """The value of one sample in Prometheus text, or None."""
    for line in text.splitlines():
        if not line.startswith(name + "{") and not line.startswith(name + " "):
            continue
        head, _, value = line.rpartition(" ")
        if all(f'{k}="{v}"' in head for k, v in labels.items()):
            return float(value)
    return None


def promtool_check(text):
    """Runs `promtool check metrics` on the exposition; returns (ok, output)."""
    p = subprocess.run(["/usr/bin/promtool", "check", "metrics"], input=text,
                       capture_output=True, text=True, timeout=60)
    return p.returncode == 0, p.stdout + p.stderr


def run_cli(*args, env=None, timeout=600, cwd=None):
    full_env = dict(os.environ)
    full_env.pop("MLFLOW_TRACKING_URI", None)
    full_env.pop("KILN_TRACKING_URI", None)
    full_env.update(env or {})
    p = subprocess.run([KILN_BIN, *map(str, args)], capture_output=True, text=True,
                       env=full_env, timeout=timeout, cwd=cwd)
    check_sanitizers(p.stderr, "kiln " + " ".join(map(str, args)))
    return p.returncode, p.stdout, p.stderr


def have_promtool():
    return os.access("/usr/bin/promtool", os.X_OK)


def split_payload(X, names):
    return {"dataframe_split": {"columns": list(names), "data": np.asarray(X).tolist()}}


def persistent_conn(port):
    return http.client.HTTPConnection("127.0.0.1", port, timeout=30)


sys.path.insert(0, os.path.join(SRC, "tools"))
