"""The agent's Streamlit UI in a real headless browser, against the real API.

A private Prometheus (Debian package) scrapes itself and the agent; ``dsa-agent serve`` (gunicorn)
and ``dsa-agent ui`` (Streamlit) run on 127.0.0.1 with a fresh state directory and a key made by
``dsa-agent keys create``; one analysis runs through the API. Chromium (Debian package, headless)
then loads the UI over the DevTools protocol, waits until the page shows that analysis, and saves
a screenshot and the DOM under ``.cache/artifacts/`` (git-ignored) for a person to look at.

Needs the Debian packages ``chromium`` and ``prometheus`` (scripts/test.sh installs them).
"""
import base64
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest
from PIL import Image
from websockets.sync.client import connect

from dsa_agent_helpers import free_port

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..", ".."))
ARTIFACTS = os.path.join(REPO, ".cache", "artifacts")
DSA_AGENT = os.path.join(os.path.dirname(sys.executable), "dsa-agent")
WIDTH, HEIGHT = 1280, 900

pytestmark = pytest.mark.integration


def _binary(name):
    path = shutil.which(name) or (f"/usr/bin/{name}" if os.access(f"/usr/bin/{name}", os.X_OK) else None)
    assert path, f"{name} is not installed: apt-get install -y {name} (scripts/test.sh installs it)"
    return path


def _get(url, headers=None, timeout=5):
    req = urllib.request.Request(url, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read().decode("utf-8", "replace"), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), dict(e.headers)
    except OSError:
        return None, "", {}


def _post(url, body, key):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                 headers={"Content-Type": "application/json",
                                          "Authorization": f"Bearer {key}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read()), dict(resp.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode("utf-8", "replace"), dict(e.headers)


def _wait(what, check, proc=None, seconds=30.0):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"{what}: the process exited with {proc.returncode}")
        value = check()
        if value:
            return value
        time.sleep(0.3)
    raise AssertionError(f"{what}: not ready within {seconds:.0f} s")


class Processes:
    """Processes this test starts, each in its own session, ended by their own ids."""

    def __init__(self, logdir):
        self.logdir, self.procs = logdir, []

    def start(self, name, argv, env=None):
        log = open(os.path.join(self.logdir, f"{name}.log"), "wb")
        proc = subprocess.Popen(argv, env=env, stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, start_new_session=True)
        log.close()
        self.procs.append(proc)
        return proc

    def stop(self):
        for proc in reversed(self.procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in reversed(self.procs):
            try:
                proc.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(5)


@pytest.fixture
def stack(tmp_path, k6_results):
    """Prometheus, the agent's API and its UI on loopback; yields their URLs and a write key."""
    procs = Processes(str(tmp_path))
    state = tmp_path / "state"
    prom_port, api_port, ui_port = free_port(), free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    (tmp_path / "prometheus.yml").write_text(
        "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
        "scrape_configs:\n"
        f"  - {{job_name: prometheus, static_configs: [{{targets: ['127.0.0.1:{prom_port}']}}]}}\n"
        f"  - {{job_name: dsa-agent, static_configs: [{{targets: ['127.0.0.1:{api_port}']}}]}}\n")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DSA_AGENT_")}
    env.update({"DSA_AGENT_STATE_DIR": str(state), "DSA_AGENT_PORT": str(api_port),
                "DSA_AGENT_UI_PORT": str(ui_port), "DSA_AGENT_BIND": "127.0.0.1",
                "DSA_AGENT_PROMETHEUS_URL": f"http://127.0.0.1:{prom_port}",
                "DSA_AGENT_RESULTS_DIR": k6_results, "DSA_AGENT_JOURNAL_UNITS": "",
                "DSA_AGENT_LLM_PROVIDER": "none", "DSA_AGENT_RATE_LIMIT": "off",
                "DSA_AGENT_WORKERS": "1", "DSA_AGENT_SOURCE_TIMEOUT": "3",
                "DSA_AGENT_LOG_LEVEL": "WARNING", "DSA_AGENT_API_URL": api})
    try:
        made = subprocess.run([DSA_AGENT, "keys", "create", "ui-browser", "--scope", "write"], env=env,
                              capture_output=True, text=True, timeout=60, check=False)
        assert made.returncode == 0, made.stderr
        key = made.stdout.strip()
        assert key.startswith("dsak_") and key not in (state / "api_keys.json").read_text()
        env["DSA_AGENT_UI_API_KEY"] = key

        prom = procs.start("prometheus", [_binary("prometheus"),
                                          f"--config.file={tmp_path / 'prometheus.yml'}",
                                          f"--storage.tsdb.path={tmp_path / 'tsdb'}",
                                          f"--web.listen-address=127.0.0.1:{prom_port}"])
        api_proc = procs.start("api", [DSA_AGENT, "serve"], env)
        ui_proc = procs.start("ui", [DSA_AGENT, "ui"], env)
        _wait("prometheus", lambda: _get(f"http://127.0.0.1:{prom_port}/-/ready")[0] == 200, prom)
        _wait("the API", lambda: _get(f"{api}/readyz")[0] == 200, api_proc)
        _wait("the UI", lambda: _get(f"http://127.0.0.1:{ui_port}/_stcore/health")[1] == "ok", ui_proc, 60)

        def scraped_twice():
            status, body, _ = _get(f"http://127.0.0.1:{prom_port}/api/v1/query?query="
                                   "count_over_time(up%7Bjob%3D%22dsa-agent%22%7D%5B1m%5D)")
            values = json.loads(body)["data"]["result"] if status == 200 else []
            return values and float(values[0]["value"][1]) >= 2
        _wait("prometheus scraping the agent", scraped_twice, prom)
        yield {"api": api, "ui": f"http://127.0.0.1:{ui_port}/", "key": key, "logs": str(tmp_path)}
    finally:
        procs.stop()


def _analysis(api, key):
    status, doc, headers = _post(f"{api}/api/v1/analyses", {"window": "5m", "targets": ["prometheus"]}, key)
    assert status == 202, doc
    url = api + headers["Location"] if headers["Location"].startswith("/") else headers["Location"]

    def done():
        status, body, _ = _get(url, {"Authorization": f"Bearer {key}"})
        assert status == 200, body
        doc = json.loads(body)
        return doc if doc["status"] != "running" else None
    doc = _wait("the analysis", done, seconds=60)
    assert doc["status"] == "done", doc
    return doc


class Browser:
    """Headless Chromium driven over the DevTools protocol (one page); a context manager."""

    def __init__(self, procs, profile):
        self.proc = procs.start("chromium", [
            _binary("chromium"), "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
            f"--user-data-dir={profile}", "--no-first-run", "--no-default-browser-check",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--disable-extensions", "--hide-scrollbars", "--mute-audio",
            "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0", "about:blank"])
        port_file = os.path.join(profile, "DevToolsActivePort")
        port = _wait("chromium's DevTools port", lambda: os.path.exists(port_file)
                     and open(port_file, encoding="utf-8").read().split("\n")[0], self.proc)
        body = _wait("chromium's page list", lambda: (lambda r: r[1] if r[0] == 200 else None)(
            _get(f"http://127.0.0.1:{port}/json/list")), self.proc)
        self.page = next(p for p in json.loads(body) if p["type"] == "page")["webSocketDebuggerUrl"]
        self.ws, self.n = None, 0

    def __enter__(self):
        self._connection = connect(self.page, max_size=None, open_timeout=10)
        self.ws = self._connection.__enter__()
        return self

    def __exit__(self, *exc):
        return self._connection.__exit__(*exc)

    def call(self, method, **params):
        self.n += 1
        self.ws.send(json.dumps({"id": self.n, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv(timeout=30))
            if msg.get("id") == self.n:
                assert "error" not in msg, msg["error"]
                return msg["result"]

    def evaluate(self, expression):
        return self.call("Runtime.evaluate", expression=expression, returnByValue=True)["result"]["value"]

    def screenshot(self):
        return base64.b64decode(self.call("Page.captureScreenshot", format="png")["data"])


def _save(name, data):
    os.makedirs(ARTIFACTS, exist_ok=True)
    with open(os.path.join(ARTIFACTS, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode("utf-8"))


def test_the_ui_renders_an_analysis_from_the_api_in_a_real_browser(stack, tmp_path):
    doc = _analysis(stack["api"], stack["key"])
    aid = doc["id"]
    findings = len(doc["result"]["findings"])
    suggestions = doc["result"]["suggestions"]
    procs = Processes(str(tmp_path))
    profile = tmp_path / "chromium"
    profile.mkdir()
    try:
        with Browser(procs, str(profile)) as browser:
            browser.call("Emulation.setDeviceMetricsOverride", width=WIDTH, height=HEIGHT,
                         deviceScaleFactor=1, mobile=False)
            browser.call("Page.navigate", url=stack["ui"])
            # Streamlit sends the page over its WebSocket after load: wait for the analysis itself.
            # The selected analysis is the value of the selectbox's input, not page text.
            state = "[document.title, document.body ? document.body.innerText : '',"
            state += " document.querySelectorAll('[data-testid=\"stSkeleton\"]').length,"
            state += " Array.from(document.querySelectorAll('input'), i => i.value)]"
            deadline = time.monotonic() + 60
            while True:
                title, text, skeletons, inputs = browser.evaluate(state)
                if (f"Findings ({findings})" in text and f"Suggestions ({len(suggestions)})" in text
                        and aid in inputs and skeletons == 0):
                    break
                if time.monotonic() > deadline:
                    _save("dsa_agent_ui.png", browser.screenshot())
                    raise AssertionError(f"the UI did not show analysis {aid} within 60 s; it shows"
                                         f" (screenshot in .cache/artifacts): {text[:1500]!r}")
                time.sleep(0.5)
            time.sleep(1)  # let charts and fonts settle before the picture
            shot = browser.screenshot()
            dom = browser.evaluate("document.documentElement.outerHTML")
    finally:
        procs.stop()
    _save("dsa_agent_ui.png", shot)
    _save("dsa_agent_ui.html", dom)

    assert title == "dsa-agent"
    assert "DSA operations agent" in text and "Suggestions (" in text and "New analysis" in text
    # What the API returned is what the page shows: the narrative and every suggestion's title.
    assert doc["result"]["narrative"]["analyst"].splitlines()[0].strip("# ") in text
    assert all(s["title"] in text for s in suggestions), text[:2000]
    assert "unreachable" not in text and not re.search(r"\b40[13]\b", text), text[:2000]
    assert "<title>dsa-agent</title>" in dom
    image = Image.open(io.BytesIO(shot)).convert("L")
    assert image.size == (WIDTH, HEIGHT)
    # Rendered text, not Streamlit's pale loading skeleton: a share of the pixels is dark.
    dark = sum(image.histogram()[:96]) / (WIDTH * HEIGHT)
    assert dark > 0.002, f"only {dark:.4%} dark pixels: the page looks blank"
