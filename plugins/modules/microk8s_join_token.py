#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: microk8s_join_token
short_description: Register a join token on a MicroK8s node for one node to join with
version_added: 0.2.0
description:
  - Runs C(microk8s add-node --token TOKEN --token-ttl TTL --format json) on the node that
    others join (the first control-plane node) and returns where to join, that is the node's addresses,
    the cluster agent port and the server certificate fingerprint.
  - The token is chosen by the caller (generate it on the controller, for example with the
    C(ansible.builtin.password) lookup on C(/dev/null)) and never appears in the result or the
    log. Build the join URL as C(ADDRESS:PORT/TOKEN/FINGERPRINT) in a task with C(no_log), or use
    the C(dsa.platform.microk8s_join_url) filter.
  - Each call registers a new token, so the task always reports a change; create one token per
    joining node, right before it joins.
author:
  - dsa.platform developers (@dsa-platform)
options:
  token:
    description: The token, letters and digits, at least 32 characters (MicroK8s refuses shorter ones).
    type: str
    required: true
    no_log: true
  ttl:
    description:
      - Seconds the token stays valid. C(-1) makes it a one-time token that expires once a node joined with it.
    type: int
    default: 600
  microk8s_path:
    description: The microk8s command, by full path.
    type: path
    default: /snap/bin/microk8s
attributes:
  check_mode:
    description: Can run in check_mode and return changed status prediction without modifying target.
    support: full
    details: Validates the token and registers nothing; the result has no addresses then.
  diff_mode:
    description: Will return details on what has changed (or possibly needs changing in check_mode), when in diff mode.
    support: none
seealso:
  - module: dsa.platform.microk8s_addon
  - name: MicroK8s clustering
    description: add-node and join.
    link: https://microk8s.io/docs/clustering
'''

EXAMPLES = r'''
- name: One token for the next node
  dsa.platform.microk8s_join_token:
    token: "{{ lookup('ansible.builtin.password', '/dev/null', length=32, chars=['ascii_lowercase', 'digits']) }}"
    ttl: 300
  register: join
  delegate_to: "{{ groups['microk8s_control_plane'][0] }}"

- name: Join with it
  ansible.builtin.command: /snap/bin/microk8s join {{ join.addresses[0] }}:{{ join.port }}/{{ token }}/{{ join.fingerprint }}
  no_log: true
'''

RETURN = r'''
addresses:
  description: The node's addresses from the join URLs MicroK8s printed, default interface first.
  returned: success, not in check mode
  type: list
  elements: str
  sample: [10.0.0.11, 172.17.0.1]
port:
  description: Port of the cluster agent that joining nodes contact.
  returned: success, not in check mode
  type: int
  sample: 25000
fingerprint:
  description: The server certificate check that join verifies (the part after the token).
  returned: success, not in check mode
  type: str
  sample: 2c3b5ad1e0f9a8d7c6b5a4f3e2d1c0b9
urls:
  description: The join URLs with the token replaced by C(<token>), for display only.
  returned: success, not in check mode
  type: list
  elements: str
  sample: [10.0.0.11:25000/<token>/2c3b5ad1e0f9a8d7c6b5a4f3e2d1c0b9]
ttl:
  description: The token's lifetime in seconds (C(-1) single use).
  returned: always
  type: int
  sample: 600
'''

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.dsa.platform.plugins.module_utils.microk8s.cli import (
    Microk8sError,
    add_node_command,
    join_url,
    parse_add_node_json,
    token_problem,
)


def main():
    module = AnsibleModule(
        argument_spec=dict(
            token=dict(type='str', required=True, no_log=True),
            ttl=dict(type='int', default=600),
            microk8s_path=dict(type='path', default='/snap/bin/microk8s'),
        ),
        supports_check_mode=True,
    )
    p = module.params
    problem = token_problem(p['token'])
    if problem:
        module.fail_json(msg='token: ' + problem)
    if p['ttl'] == 0 or p['ttl'] < -1:
        module.fail_json(msg='ttl: must be a positive number of seconds, or -1 for a single-use token')
    if module.check_mode:
        module.exit_json(changed=True, ttl=p['ttl'])
    rc, out, err = module.run_command(add_node_command(p['token'], p['ttl'], p['microk8s_path']))
    if rc != 0:
        # add-node echoes nothing secret on failure; strip the token anyway.
        module.fail_json(msg='microk8s add-node failed (rc %d): %s' % (rc, (err or out or '').replace(p['token'], '<token>').strip()[-500:]))
    try:
        info = parse_add_node_json(out, p['token'])
    except Microk8sError as exc:
        module.fail_json(msg=str(exc))
    urls = [join_url(address, info['port'], '<token>', info['fingerprint']) for address in info['addresses']]
    module.exit_json(changed=True, ttl=p['ttl'], urls=urls, **info)


if __name__ == '__main__':
    main()
