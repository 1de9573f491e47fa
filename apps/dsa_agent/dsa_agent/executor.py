"""The executor's one side effect: an approved patch is written to a file in the state directory
(``patches/<analysis>-<suggestion>.yml``: the variables of one group, usable as
``-e @file`` or merged into that group's group_vars). A rejection is only recorded."""
import os
import time

import yaml

from .store import atomic_write


class DecisionError(ValueError):
    pass


def apply_decision(settings, analysis_id: str, s: dict, decision: str, who: str = "") -> dict:
    if decision not in ("approve", "reject"):
        raise DecisionError(f"decision must be approve or reject, got {decision!r}")
    if s["status"] != "proposed":
        raise DecisionError(f"suggestion {s['id']} is {s['status']}, not proposed")
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    if decision == "reject":
        s.update(status="rejected", decided_at=now, decided_by=who)
        return s
    ((group, variables),) = s["patch"].items()
    path = os.path.join(settings.state_dir, "patches", f"{analysis_id}-{s['id']}.yml")
    header = (f"# dsa-agent: suggestion {s['id']} of analysis {analysis_id}, approved {now}"
              f"{' by ' + who if who else ''}.\n# {s['title']}: {s['rationale']}\n"
              f"# Merge into group_vars/{group}.yml of the inventory, or pass as -e @{path}\n")
    atomic_write(path, header + "---\n" + yaml.safe_dump(variables, sort_keys=False))
    s.update(status="approved", decided_at=now, decided_by=who, patch_file=path)
    return s
