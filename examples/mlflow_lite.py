"""A tiny, standard-library-only stand-in for MLflow's fluent tracking API.

It sends exactly the REST requests the real `mlflow` client sends (see
docs/tracking.md), so scripts written with it read like MLflow scripts and work against kiln
or an MLflow server alike. Use the real `mlflow` package where you can install it: kiln
accepts it unchanged (export MLFLOW_TRACKING_URI=http://127.0.0.1:5000).
"""
import getpass
import json
import mimetypes
import os
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

_state = {"experiment_id": None, "run": None}


def _uri():
    return (os.environ.get("KILN_TRACKING_URI") or os.environ.get("MLFLOW_TRACKING_URI")
            or "http://127.0.0.1:5000").rstrip("/")


class MlflowException(Exception):
    def __init__(self, status, code, message):
        super().__init__(f"{code}: {message}")
        self.status, self.error_code = status, code


def _call(method, endpoint, payload=None):
    url = _uri() + "/api/2.0/mlflow" + endpoint
    data = None
    if method == "GET":
        if payload:
            url += "?" + urllib.parse.urlencode(payload, doseq=True)
    else:
        data = json.dumps(payload or {}).encode()
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json",
                                          "User-Agent": "mlflow-lite"})
    try:
        with urllib.request.urlopen(req, timeout=120) as r:
            body = r.read()
            return json.loads(body) if body else {}
    except urllib.error.HTTPError as e:
        body = e.read()
        try:
            err = json.loads(body)
        except ValueError:
            err = {"error_code": "INTERNAL_ERROR", "message": body.decode(errors="replace")}
        raise MlflowException(e.code, err.get("error_code"), err.get("message")) from None


def _now():
    return int(time.time() * 1000)


def set_experiment(name):
    try:
        exp = _call("GET", "/experiments/get-by-name", {"experiment_name": name})["experiment"]
        _state["experiment_id"] = exp["experiment_id"]
    except MlflowException as e:
        if e.error_code != "RESOURCE_DOES_NOT_EXIST":
            raise
        _state["experiment_id"] = _call("POST", "/experiments/create",
                                        {"name": name})["experiment_id"]
    return _state["experiment_id"]


class ActiveRun:
    def __init__(self, info):
        self.info = info

    def __enter__(self):
        return self

    def __exit__(self, exc_type, *_):
        end_run("FAILED" if exc_type else "FINISHED")
        return False


def start_run(run_name=None, tags=None, nested=False):
    parent = _state["run"]
    all_tags = {"mlflow.user": getpass.getuser(), "mlflow.source.name": sys.argv[0],
                "mlflow.source.type": "LOCAL"}
    if run_name:
        all_tags["mlflow.runName"] = run_name
    if nested and parent is not None:
        all_tags["mlflow.parentRunId"] = parent["run_id"]
    all_tags.update(tags or {})
    run = _call("POST", "/runs/create", {
        "experiment_id": _state["experiment_id"] or "0", "user_id": getpass.getuser(),
        "run_name": run_name or "", "start_time": _now(),
        "tags": [{"key": k, "value": str(v)} for k, v in all_tags.items()]})["run"]
    run["info"]["_parent"] = parent
    _state["run"] = run["info"]
    return ActiveRun(run["info"])


def end_run(status="FINISHED"):
    info = _state["run"]
    if info is None:
        return
    _call("POST", "/runs/update", {"run_id": info["run_id"], "run_uuid": info["run_id"],
                                   "status": status, "end_time": _now()})
    _state["run"] = info.get("_parent")


def _run_id():
    return _state["run"]["run_id"]


def log_param(key, value):
    _call("POST", "/runs/log-parameter", {"run_id": _run_id(), "run_uuid": _run_id(),
                                         "key": key, "value": str(value)})


def log_params(params):
    _call("POST", "/runs/log-batch", {"run_id": _run_id(), "metrics": [], "tags": [],
                                     "params": [{"key": k, "value": str(v)}
                                                for k, v in params.items()]})


def _num(v):
    v = float(v)
    if v != v:
        return "NaN"
    if v in (float("inf"), float("-inf")):
        return "Infinity" if v > 0 else "-Infinity"
    return v


def log_metric(key, value, step=0):
    _call("POST", "/runs/log-metric", {"run_id": _run_id(), "run_uuid": _run_id(), "key": key,
                                      "value": _num(value), "timestamp": _now(), "step": step})


def log_metrics(metrics, step=0):
    ts = _now()
    _call("POST", "/runs/log-batch", {"run_id": _run_id(), "params": [], "tags": [],
                                     "metrics": [{"key": k, "value": _num(v), "timestamp": ts,
                                                  "step": step} for k, v in metrics.items()]})


def set_tag(key, value):
    _call("POST", "/runs/set-tag", {"run_id": _run_id(), "run_uuid": _run_id(), "key": key,
                                   "value": str(value)})


def log_input(name, digest, source, source_type="local", context="training", schema=None):
    dataset = {"name": name, "digest": digest, "source_type": source_type,
               "source": json.dumps({"uri": source})}
    if schema is not None:
        dataset["schema"] = json.dumps(schema)
    _call("POST", "/runs/log-inputs", {"run_id": _run_id(), "datasets": [{
        "tags": [{"key": "mlflow.data.context", "value": context}], "dataset": dataset}]})


def _artifact_url(artifact_uri, rel):
    """mlflow-artifacts:/<p> -> <tracking uri>/api/2.0/mlflow-artifacts/artifacts/<p>/<rel>."""
    prefix = "mlflow-artifacts:"
    if not artifact_uri.startswith(prefix):
        raise MlflowException(0, "UNSUPPORTED", f"artifact URI {artifact_uri} is not proxied")
    path = artifact_uri[len(prefix):].lstrip("/")
    if path.startswith("/"):
        path = path.split("/", 2)[-1]
    quoted = urllib.parse.quote(f"{path}/{rel}".strip("/"))
    return f"{_uri()}/api/2.0/mlflow-artifacts/artifacts/{quoted}"


def _put(url, local):
    ctype = mimetypes.guess_type(local)[0] or "application/octet-stream"
    with open(local, "rb") as f:
        data = f.read()
    req = urllib.request.Request(url, data=data, method="PUT", headers={"Content-Type": ctype})
    with urllib.request.urlopen(req, timeout=120) as r:
        r.read()


def log_artifact(local_path, artifact_path=None):
    info = _call("GET", "/runs/get", {"run_uuid": _run_id(), "run_id": _run_id()})["run"]["info"]
    rel = os.path.join(artifact_path or "", os.path.basename(local_path))
    _put(_artifact_url(info["artifact_uri"], rel), local_path)


def log_artifacts(local_dir, artifact_path=None):
    info = _call("GET", "/runs/get", {"run_uuid": _run_id(), "run_id": _run_id()})["run"]["info"]
    for root, _dirs, files in os.walk(local_dir):
        for name in files:
            full = os.path.join(root, name)
            rel = os.path.join(artifact_path or "", os.path.relpath(full, local_dir))
            _put(_artifact_url(info["artifact_uri"], rel), full)


def log_dict(d, artifact_file):
    import tempfile
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, os.path.basename(artifact_file))
        with open(path, "w") as f:
            json.dump(d, f, indent=2)
        log_artifact(path, os.path.dirname(artifact_file) or None)
