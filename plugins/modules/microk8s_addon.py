#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: microk8s_addon
short_description: Enable or disable MicroK8s add-ons idempotently, one per command
version_added: 0.2.0
description:
  - Reads C(microk8s status --format yaml --wait-ready) once and enables or disables only the
    add-ons whose status differs from the wanted one, in the order given, one add-on per
    C(microk8s enable)/C(microk8s disable) command (as MicroK8s asks), then reads the status again
    and fails unless every add-on reached its wanted state.
  - Run it on one control-plane node only (the first one); add-ons are cluster-wide, and
    C(microk8s status) answers only on a control-plane node.
  - An add-on the cluster does not know fails the task with the list of known add-ons (MicroK8s
    itself only prints "not found" and exits 0).
author:
  - dsa.platform developers (@dsa-platform)
options:
  addons:
    description:
      - The add-ons to manage, each a name or a mapping. A name may carry its repository (C(core/dns)).
    type: list
    elements: raw
    required: true
    suboptions:
      name:
        description: Add-on name (C(dns)) or C(repository/name) (C(core/dns)).
        type: str
        required: true
      args:
        description:
          - Arguments for C(microk8s enable NAME ARGS...) (or C(disable)), as a string split like a
            shell would, or a list.
          - MicroK8s does not report the arguments an enabled add-on was enabled with; changing them
            needs the add-on disabled first.
        type: raw
      state:
        description: Wanted status.
        type: str
        choices: [enabled, disabled]
        default: enabled
  microk8s_path:
    description: The microk8s command, by full path (snap puts it in C(/snap/bin), which is often not on C(PATH)).
    type: path
    default: /snap/bin/microk8s
  wait_timeout:
    description: Seconds C(microk8s status --wait-ready) waits for the node before the task fails.
    type: int
    default: 300
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Reads the status and reports the commands it would run; runs none of them.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: full
    details: Before and after status of each add-on named in I(addons).
notes:
  - Enabling an add-on that pulls others in (C(observability) needs C(dns) and C(hostpath-storage))
    changes their status too; list them explicitly so the plan stays readable.
seealso:
  - module: dsa.platform.microk8s_join_token
  - name: MicroK8s add-ons
    description: The add-ons MicroK8s ships and their arguments.
    link: https://microk8s.io/docs/addons
'''

EXAMPLES = r'''
- name: Core add-ons, with arguments
  dsa.platform.microk8s_addon:
    addons:
      - name: dns
        args: 10.0.0.53,10.0.0.54
      - hostpath-storage
      - ingress
      - metrics-server
      - name: registry
        args: --size 20Gi
  run_once: true
  delegate_to: "{{ groups['microk8s_control_plane'][0] }}"

- name: No dashboard
  dsa.platform.microk8s_addon:
    addons:
      - {name: dashboard, state: disabled}
'''

RETURN = r'''
enabled:
  description: Add-ons this run enabled (or would enable in check mode), as C(repository/name).
  returned: always
  type: list
  elements: str
  sample: [core/dns, core/ingress]
disabled:
  description: Add-ons this run disabled (or would disable in check mode), as C(repository/name).
  returned: always
  type: list
  elements: str
  sample: [core/dashboard]
commands:
  description: The microk8s commands run (or that would run in check mode), one per add-on.
  returned: always
  type: list
  elements: list
  sample: [[/snap/bin/microk8s, enable, core/dns, 10.0.0.53]]
addons:
  description: Status of each add-on named in I(addons) after the run, keyed C(repository/name).
  returned: always
  type: dict
  sample: {core/dns: enabled, core/dashboard: disabled}
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dsa.platform.plugins.module_utils.microk8s import addons as addon_logic
from ansible_collections.dsa.platform.plugins.module_utils.microk8s.cli import Microk8sError


def main():
    module = AnsibleModule(
        argument_spec=dict(
            addons=dict(type='list', elements='raw', required=True),
            microk8s_path=dict(type='path', default='/snap/bin/microk8s'),
            wait_timeout=dict(type='int', default=300),
        ),
        supports_check_mode=True,
    )
    p = module.params

    def run(command):
        return module.run_command(command)

    try:
        wanted = addon_logic.normalize(p['addons'])
        result = addon_logic.apply(run, wanted, microk8s=p['microk8s_path'], check_mode=module.check_mode,
                                   wait_timeout=p['wait_timeout'])
    except Microk8sError as err:
        module.fail_json(msg=str(err))
    diff = result.pop('diff')
    if module._diff:
        result['diff'] = diff
    module.exit_json(**result)


if __name__ == '__main__':
    main()
