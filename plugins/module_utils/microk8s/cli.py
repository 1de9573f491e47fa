"""The MicroK8s and snap command lines: the commands the modules run and parsers for their output.

The formats are those MicroK8s prints (scripts/wrappers/status.py and add_token.py in the
MicroK8s source): ``microk8s status --format yaml`` and ``microk8s add-node --format json``.
Every parser raises Microk8sError with a message that quotes what was wrong, never a traceback.
"""
import json
import re

try:  # PyYAML is on the controller, not always on a node (Python's standard library has no YAML)
    import yaml

    HAS_YAML = True
except ImportError:  # pragma: no cover - exercised by forcing it off in the unit tests
    yaml = None
    HAS_YAML = False

MICROK8S = "/snap/bin/microk8s"
SNAP = "snap"

# Printed by `microk8s status` on a node that joined as a worker (it exits 1).
WORKER_MESSAGE = "acting as a node in a cluster"
# Printed by `microk8s status` when the services were stopped with `microk8s stop` (exit 0).
STOPPED_MESSAGE = "microk8s is not running, try microk8s start"

TOKEN_MIN_LENGTH = 32  # add-node refuses shorter tokens
_TOKEN = re.compile(r"^[A-Za-z0-9]+$")


class Microk8sError(Exception):
    """A command failed or printed something this collection cannot read."""


def _excerpt(text, limit=300):
    text = (text or "").strip()
    return text if len(text) <= limit else text[:limit] + "..."


def parse_status_yaml(text):
    """`microk8s status --format yaml` -> {running, message, ha_enabled, ha_nodes, addons}.

    addons maps "repository/name" to {name, repository, description, version, status}; it is
    empty when the node is not running (MicroK8s lists add-ons only then).
    """
    if text is None or not text.strip():
        raise Microk8sError("microk8s status printed nothing")
    if WORKER_MESSAGE in text:
        raise Microk8sError("this node is a worker: microk8s status only answers on a control-plane node")
    if STOPPED_MESSAGE in text:
        return {"running": False, "message": STOPPED_MESSAGE, "ha_enabled": False, "ha_nodes": [], "addons": {}}
    try:
        data = yaml.safe_load(text) if HAS_YAML else _status_layout(text)
    except (ValueError, AttributeError, TypeError) + ((yaml.YAMLError,) if HAS_YAML else ()) as err:
        raise Microk8sError(f"microk8s status --format yaml is not YAML ({err}): {_excerpt(text)}") from err
    if not isinstance(data, dict) or not isinstance(data.get("microk8s"), dict):
        raise Microk8sError(f"microk8s status --format yaml has no 'microk8s' section: {_excerpt(text)}")
    running = data["microk8s"].get("running")
    if not isinstance(running, bool):
        raise Microk8sError(f"microk8s status: 'microk8s.running' must be true or false, got {running!r}")
    ha = data.get("high-availability") or {}
    if not isinstance(ha, dict):
        raise Microk8sError(f"microk8s status: 'high-availability' must be a mapping, got {ha!r}")
    nodes = []
    for node in ha.get("nodes") or []:
        if isinstance(node, dict) and "address" in node:
            nodes.append({"address": str(node["address"]), "role": str(node.get("role", ""))})
    addons = {}
    for entry in data.get("addons") or []:
        if not isinstance(entry, dict) or not entry.get("name") or entry.get("status") not in ("enabled", "disabled"):
            raise Microk8sError(f"microk8s status: unreadable add-on entry {entry!r}")
        repository = str(entry.get("repository") or "core")
        addons[f"{repository}/{entry['name']}"] = {
            "name": str(entry["name"]),
            "repository": repository,
            "description": str(entry.get("description") or ""),
            "version": str(entry.get("version") or ""),
            "status": entry["status"],
        }
    return {
        "running": running,
        # MicroK8s prints the not-running message indented under high-availability.
        "message": str(data["microk8s"].get("message") or ha.get("message") or ""),
        "ha_enabled": bool(ha.get("enabled")),
        "ha_nodes": nodes,
        "addons": addons,
    }


_SCALARS = {"True": True, "true": True, "False": False, "false": False}


def _scalar(text):
    text = text.strip()
    if text in _SCALARS:
        return _SCALARS[text]
    if len(text) >= 2 and text[0] == text[-1] and text[0] in "'\"":
        return text[1:-1]
    return text


def _status_layout(text):
    """The YAML subset `microk8s status --format yaml` prints, for nodes without PyYAML.

    Top-level `key:` sections holding `key: value` scalars, nested sections, and lists of
    mappings (`- key: value` then `  key: value`), indented with spaces. Anything else raises
    ValueError naming the line.
    """
    root = {}
    stack = [(-1, root)]  # (indent, container)
    for number, raw in enumerate(text.splitlines(), 1):
        if not raw.strip() or raw.lstrip().startswith("#"):
            continue
        if "\t" in raw[:len(raw) - len(raw.lstrip())]:
            raise ValueError(f"line {number}: tab indentation")
        indent = len(raw) - len(raw.lstrip(" "))
        line = raw.strip()
        item = line.startswith("- ")
        if item:
            line = line[2:]
        key, sep, value = line.partition(":")
        if not sep or not key or (value and not value.startswith(" ")):
            raise ValueError(f"line {number}: expected 'key: value', got {raw.strip()!r}")
        while stack and stack[-1][0] >= indent and not (item and isinstance(stack[-1][1], list) and stack[-1][0] == indent):
            stack.pop()
        if not stack:
            raise ValueError(f"line {number}: bad indentation")
        parent = stack[-1][1]
        if item:
            if not isinstance(parent, list):
                raise ValueError(f"line {number}: a list item where a mapping was expected")
            entry = {}
            parent.append(entry)
            stack.append((indent + 1, entry))  # continuation keys sit two spaces deeper than '-'
            parent = entry
        elif isinstance(parent, list):
            raise ValueError(f"line {number}: a mapping key inside a list")
        value = value.strip()
        if value:
            parent[key.strip()] = _scalar(value)
        else:
            # A section: a list when the next meaningful line is an item, else a mapping.
            following = [ln for ln in text.splitlines()[number:] if ln.strip()]
            child = [] if following and following[0].strip().startswith("- ") else {}
            parent[key.strip()] = child
            stack.append((indent, child))
    return root


def find_addon(addons, name):
    """The "repository/name" key of add-on `name` ("dns" or "core/dns") in parsed status addons."""
    if "/" in name:
        if name in addons:
            return name
        raise Microk8sError(f"add-on {name} is not available on this cluster (known: {', '.join(sorted(addons)) or 'none'})")
    matches = sorted(key for key, addon in addons.items() if addon["name"] == name)
    if not matches:
        raise Microk8sError(f"add-on {name} is not available on this cluster (known: "
                            f"{', '.join(sorted(a['name'] for a in addons.values())) or 'none'})")
    if len(matches) > 1:
        raise Microk8sError(f"add-on {name} is in more than one repository ({', '.join(matches)}): "
                            "name it as repository/name")
    return matches[0]


def status_command(microk8s=MICROK8S, wait_timeout=None):
    command = [microk8s, "status", "--format", "yaml"]
    if wait_timeout:
        command += ["--wait-ready", "--timeout", str(int(wait_timeout))]
    return command


def xable_command(action, key, args=(), microk8s=MICROK8S):
    """One add-on per command (`microk8s enable NAME ARGS...`), as MicroK8s asks."""
    if action not in ("enable", "disable"):
        raise ValueError(action)
    return [microk8s, action, key] + [str(arg) for arg in args]


def token_problem(token):
    """Why a join token would be refused, or None."""
    if not isinstance(token, str) or not _TOKEN.match(token or ""):
        return "must be a string of letters and digits"
    if len(token) < TOKEN_MIN_LENGTH:
        return f"must be at least {TOKEN_MIN_LENGTH} characters long (MicroK8s refuses shorter tokens)"
    return None


def add_node_command(token, ttl, microk8s=MICROK8S):
    return [microk8s, "add-node", "--token", token, "--token-ttl", str(int(ttl)), "--format", "json"]


def parse_add_node_json(text, token):
    """`microk8s add-node --format json` -> {addresses, port, fingerprint}, checked against token.

    MicroK8s prints {"token": "TOKEN/CHECK", "urls": ["IP:PORT/TOKEN/CHECK", ...]}. The result
    holds no token: a caller that knows it builds the URL as ADDRESS:PORT/TOKEN/FINGERPRINT.
    """
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as err:
        raise Microk8sError(f"microk8s add-node --format json did not print JSON ({err})") from err
    if not isinstance(data, dict) or not isinstance(data.get("token"), str) or not isinstance(data.get("urls"), list):
        raise Microk8sError("microk8s add-node --format json: expected keys 'token' and 'urls'")
    head, _, fingerprint = data["token"].partition("/")
    if head != token:
        raise Microk8sError("microk8s add-node registered a different token than the one given")
    addresses = []
    port = None
    for url in data["urls"]:
        endpoint, _, rest = str(url).partition("/")
        if rest != f"{token}/{fingerprint}" or ":" not in endpoint:
            raise Microk8sError("microk8s add-node: a join URL is not of the form ADDRESS:PORT/TOKEN/CHECK")
        address, _, url_port = endpoint.rpartition(":")
        if not url_port.isdigit():
            raise Microk8sError("microk8s add-node: a join URL has no port number")
        port = int(url_port)
        if address == "none":  # what MicroK8s prints when the node has no address
            continue
        addresses.append(address.strip("[]"))
    if not addresses:
        raise Microk8sError("microk8s add-node printed no join URL (the node has no address?)")
    return {"addresses": addresses, "port": port, "fingerprint": fingerprint}


def join_url(address, port, token, fingerprint=""):
    """ADDRESS:PORT/TOKEN[/FINGERPRINT], IPv6 addresses in brackets."""
    host = f"[{address}]" if ":" in address else address
    url = f"{host}:{int(port)}/{token}"
    return f"{url}/{fingerprint}" if fingerprint else url


def join_command(url, worker=False, microk8s=MICROK8S):
    command = [microk8s, "join", url]
    if worker:
        command.append("--worker")
    return command


def parse_snap_list(text, name="microk8s"):
    """`snap list NAME` -> {name, version, revision, tracking, notes: [..]} or None if absent."""
    lines = [line for line in (text or "").splitlines() if line.strip()]
    if not lines or not lines[0].startswith("Name"):
        return None
    header = lines[0].split()
    for line in lines[1:]:
        fields = line.split()
        if fields and fields[0] == name:
            row = dict(zip(header, fields))
            notes = row.get("Notes", "-")
            return {
                "name": fields[0],
                "version": row.get("Version", ""),
                "revision": row.get("Rev", ""),
                "tracking": row.get("Tracking", ""),
                "notes": [] if notes == "-" else notes.split(","),
            }
    return None


def parse_nodes_json(text):
    """`kubectl get nodes -o json` -> {node name: ready (bool)}."""
    try:
        data = json.loads(text)
    except (TypeError, ValueError) as err:
        raise Microk8sError(f"kubectl get nodes -o json did not print JSON ({err})") from err
    nodes = {}
    for item in data.get("items") or []:
        name = (item.get("metadata") or {}).get("name")
        if not name:
            continue
        conditions = (item.get("status") or {}).get("conditions") or []
        nodes[name] = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)
    return nodes
