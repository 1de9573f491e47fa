"""Inventory checks for playbooks/validate.yml (logic in plugins/module_utils/checks/inventory.py)."""

from ansible_collections.dsa.platform.plugins.module_utils.checks import inventory as inventory_checks


class FilterModule:
    def filters(self):
        return {
            "network_problems": inventory_checks.network_problems,
            "address_problems": inventory_checks.address_problems,
            "url_problems": inventory_checks.url_problems,
            "port_problems": inventory_checks.port_problems,
        }
