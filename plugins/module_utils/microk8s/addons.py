"""Enable and disable MicroK8s add-ons idempotently, one per command, from a control-plane node.

`microk8s status --format yaml` is read once; only add-ons whose status differs from the wanted
one are enabled or disabled, in the order given, then the status is read again to prove it.
Arguments are passed unix style (`microk8s enable NAME ARG...`). MicroK8s does not report the
arguments an add-on was enabled with, so changing them for an enabled add-on needs a disable first.
"""
import shlex

from ansible_collections.dsa.platform.plugins.module_utils.microk8s.cli import (
    MICROK8S,
    Microk8sError,
    find_addon,
    parse_status_yaml,
    status_command,
    xable_command,
)

STATES = ("enabled", "disabled")


def normalize(addons, field="addons"):
    """Validate the wanted add-ons: a list of names or {name, args, state} -> list of dicts."""
    if not isinstance(addons, list):
        raise Microk8sError(f"{field}: must be a list of add-ons")
    result = []
    seen = {}
    for index, entry in enumerate(addons):
        where = f"{field}[{index}]"
        if isinstance(entry, str):
            entry = {"name": entry}
        if not isinstance(entry, dict):
            raise Microk8sError(f"{where}: must be an add-on name or a mapping with 'name'")
        unknown = sorted(set(entry) - {"name", "args", "state"})
        if unknown:
            raise Microk8sError(f"{where}: unknown key(s) {', '.join(unknown)} (use name, args, state)")
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip() or " " in name:
            raise Microk8sError(f"{where}.name: must be an add-on name such as dns or core/dns")
        state = entry.get("state") or "enabled"
        if state not in STATES:
            raise Microk8sError(f"{where}.state: must be enabled or disabled, got {state!r}")
        args = entry.get("args")
        if args is None or args == "":
            args = []
        elif isinstance(args, str):
            try:
                args = shlex.split(args)
            except ValueError as err:
                raise Microk8sError(f"{where}.args: {err}") from err
        elif isinstance(args, list) and all(isinstance(a, (str, int, float)) for a in args):
            args = [str(a) for a in args]
        else:
            raise Microk8sError(f"{where}.args: must be a string or a list of strings")
        if name in seen:
            raise Microk8sError(f"{where}.name: {name} is listed twice (also at {field}[{seen[name]}])")
        seen[name] = index
        result.append({"name": name, "args": args, "state": state})
    return result


def plan(status, wanted):
    """The commands to run: [{key, action, args}], for add-ons whose status differs."""
    actions = []
    for addon in wanted:
        key = find_addon(status["addons"], addon["name"])
        if status["addons"][key]["status"] != addon["state"]:
            actions.append({"key": key, "action": "enable" if addon["state"] == "enabled" else "disable",
                            "args": addon["args"]})
    return actions


def _status(run, microk8s, wait_timeout):
    rc, out, err = run(status_command(microk8s, wait_timeout))
    status = parse_status_yaml(out or err)
    if not status["running"]:
        raise Microk8sError("microk8s is not running on this node"
                            + (f" after waiting {wait_timeout}s" if wait_timeout else "")
                            + f": {status['message'] or (err or '').strip() or 'rc ' + str(rc)}")
    return status


def apply(run, wanted, microk8s=MICROK8S, check_mode=False, wait_timeout=300):
    """Bring the add-ons to the wanted states. run(command list) -> (rc, stdout, stderr)."""
    before_status = _status(run, microk8s, wait_timeout)
    actions = plan(before_status, wanted)
    keys = [find_addon(before_status["addons"], addon["name"]) for addon in wanted]
    before = {key: before_status["addons"][key]["status"] for key in keys}
    after = dict(before)
    commands = []
    for action in actions:
        command = xable_command(action["action"], action["key"], action["args"], microk8s)
        commands.append(command)
        if not check_mode:
            rc, out, err = run(command)
            if rc != 0:
                raise Microk8sError(f"microk8s {action['action']} {action['key']} failed (rc {rc}): "
                                    f"{(err or out or '').strip()[-500:]}")
        after[action["key"]] = "enabled" if action["action"] == "enable" else "disabled"
    if actions and not check_mode:
        final = _status(run, microk8s, wait_timeout)
        wrong = [key for key in keys if final["addons"][key]["status"] != after[key]]
        if wrong:
            raise Microk8sError("add-on(s) not in the wanted state after the command: "
                                + ", ".join(f"{key} is {final['addons'][key]['status']}" for key in wrong))
        after = {key: final["addons"][key]["status"] for key in keys}
    return {
        "changed": bool(actions),
        "enabled": [a["key"] for a in actions if a["action"] == "enable"],
        "disabled": [a["key"] for a in actions if a["action"] == "disable"],
        "commands": commands,
        "addons": after,
        "diff": {"before": before, "after": after},
    }
