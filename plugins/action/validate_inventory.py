# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Action plugin: the inventory preflight of playbooks/validate.yml, on the controller.

Gathers this host's values (templated, so role defaults derived from the platform variables are
resolved) and the inventory's groups, and runs the checks in
plugins/module_utils/checks/deployment.py. The whole-inventory checks run on the first host of
the play only. Fails once per host with every problem found, each naming the variable to fix.
No host is contacted.
"""

from ansible.errors import AnsibleError
from ansible.plugins.action import ActionBase

from ansible_collections.dsa.platform.plugins.module_utils.checks import deployment


class ActionModule(ActionBase):
    _requires_connection = False
    _supports_check_mode = True
    TRANSFERS_FILES = False

    def run(self, tmp=None, task_vars=None):
        task_vars = task_vars or {}
        result = super().run(tmp, task_vars)
        self.validate_argument_spec(argument_spec={})  # takes no options
        host = task_vars["inventory_hostname"]
        problems = []
        unresolved = []

        def value(name, default=None, source=None):
            source = task_vars if source is None else source
            if name not in source:
                return default
            try:
                return self._templar.template(source[name])
            except AnsibleError as err:
                unresolved.append(f"{name}: cannot be resolved for {host}: {err.message}")
                return default

        platform = value("dsa_platform")
        groups = {name: list(members) for name, members in task_vars.get("groups", {}).items()}
        hostvars = task_vars.get("hostvars", {})

        first = (task_vars.get("ansible_play_hosts_all") or [host])[0]
        if host == first:
            addresses = {}
            for node in groups.get("nodes", []):
                address = value("ansible_host", source=hostvars[node]) if node in hostvars else None
                if address is not None:
                    addresses[node] = address
            problems.extend(deployment.deployment_problems(
                platform, groups, addresses, value("dsa_api_url"), hostvars=hostvars,
                k8s_cluster=value("dsa_k8s_cluster", "microk8s")))

        group_names = list(task_vars.get("group_names", []))
        values = {}
        if platform == "host":
            for name in deployment.host_variables(group_names):
                if name in task_vars:
                    values[name] = value(name)
        monitors = groups.get("observability") or []
        monitor = monitors[0] if monitors else None
        monitor_address = value("ansible_host", source=hostvars[monitor]) if monitor in hostvars else None
        problems.extend(deployment.host_problems(platform, host, group_names, value("ansible_host"), values,
                                                 prometheus=(monitor, monitor_address)))
        if platform == "microk8s" and deployment.K8S_CONTROLLER_GROUP in group_names:
            problems.extend(deployment.k8s_problems(
                host, {name: value(name) for name in deployment.K8S_VARIABLES if name in task_vars}))
        problems.extend(unresolved)

        result["changed"] = False
        if problems:
            result.update(failed=True, msg=problems)
        else:
            result.update(problems=[], msg="no problems found")
        return result
