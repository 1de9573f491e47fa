"""Filters for network addresses (the rules are in plugins/module_utils/checks/netcheck.py)."""

from ansible.errors import AnsibleFilterError

from ansible_collections.dsa.platform.plugins.module_utils.checks.netcheck import invalid_networks as _invalid_networks


def invalid_networks(values):
    """The entries of a list that are not valid CIDR networks, each with its index and a reason."""
    try:
        return _invalid_networks(values)
    except ImportError as err:
        raise AnsibleFilterError(f"invalid_networks: {err}") from err


class FilterModule:
    def filters(self):
        return {"invalid_networks": invalid_networks}
