"""Helpers shared by the deployment end-to-end tests (test_deploy_*.py)."""
import json
import time

KILN_API = "/api/kiln/v1"

# Fast settings so a whole rollout takes a few seconds: analysis every 200 ms, replicas report
# every 300 ms, steps held for 1 s and 60 candidate requests.
FAST = """
name: {name}
model: {model}
steps:
  - {{weight: 20, min_duration: 1s, min_requests: 60}}
  - {{weight: 50, min_duration: 1s, min_requests: 60}}
analysis:
  interval: 200ms
  min_samples: 60
  metrics:
{metrics}
monitoring:
  report_interval: 300ms
{extra}
"""

DEFAULT_METRICS = """    error_rate: {max: 0.05}
    latency_p99: {max_ms: 20}"""


def spec(name, model, metrics=DEFAULT_METRICS, extra=""):
    return FAST.format(name=name, model=model, metrics=metrics, extra=extra)


def kapi(srv, method, path, payload=None, query=None):
    return srv.api(method, path, payload, prefix=KILN_API, query=query)


def kok(srv, method, path, payload=None, query=None):
    status, data = kapi(srv, method, path, payload, query)
    if status != 200:
        raise AssertionError(f"{method} {path} -> {status}: {data}")
    return data


def make_model(srv, name, versions):
    """A registered model with `versions` versions; v1 goes through dev, staging and canary to
    production, the others through dev and staging (ready to become candidates)."""
    srv.ok("POST", "/registered-models/create", {"name": name})
    for _ in range(versions):
        srv.ok("POST", "/model-versions/create",
               {"name": name, "source": "mlflow-artifacts:/0/r/artifacts/model"})
    for v in range(1, versions + 1):
        envs = ["dev", "staging", "canary", "production"] if v == 1 else ["dev", "staging"]
        for env in envs:
            kok(srv, "POST", "/models/promote",
                {"name": name, "version": str(v), "environment": env})


def alias(srv, model, name):
    status, data = srv.api("GET", "/registered-models/alias", {"name": model, "alias": name})
    if status != 200:
        return None
    return int(data["model_version"]["version"])


def status(srv, name):
    return kok(srv, "GET", f"/deployments/{name}")["deployment"]


def wait_for(fn, timeout=30, step=0.05, what="condition"):
    deadline = time.time() + timeout
    while time.time() < deadline:
        v = fn()
        if v:
            return v
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def wait_rollout_end(srv, name, timeout=40):
    """Waits until the deployment has no rollout in progress; returns its last rollout."""
    def done():
        d = status(srv, name)
        return d["last_rollout"] if d["rollout"] is None and d["last_rollout"] else None
    return wait_for(done, timeout, 0.1, f"the rollout of {name} to end")


def events(srv, types=None, model=None):
    q = {"after": 0, "max_results": 1000}
    if types:
        q["types"] = types
    if model:
        q["model"] = model
    return kok(srv, "GET", "/events", query=q)["events"]
