"""Filters for kernel settings (the rules are in plugins/module_utils/os_tuning/sysctl_floor.py)."""

from ansible.errors import AnsibleFilterError

from ansible_collections.dsa.platform.plugins.module_utils.os_tuning.sysctl_floor import merge, plan


def sysctl_floor(desired, current, directions=None):
    """Desired sysctl values, except where the host's current value is already more tuned."""
    try:
        return merge(desired, current or {}, directions)
    except ValueError as err:
        raise AnsibleFilterError(f"sysctl_floor: {err}") from err


def sysctl_plan(desired, sysctl_output, directions=None, congestion_control="", in_container=False,
                proc_sys_read_only=False, apply_runtime=True):
    """What to persist, what to apply at runtime and what cannot be applied (with reasons)."""
    try:
        return plan(desired, sysctl_output, directions, congestion_control, in_container,
                    proc_sys_read_only, apply_runtime)
    except ValueError as err:
        raise AnsibleFilterError(f"sysctl_plan: {err}") from err


class FilterModule:
    def filters(self):
        return {"sysctl_floor": sysctl_floor, "sysctl_plan": sysctl_plan}
