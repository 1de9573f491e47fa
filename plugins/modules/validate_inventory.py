#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
# The documentation of the action plugin plugins/action/validate_inventory.py (it runs on the
# controller; there is no module code).

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r'''
---
module: validate_inventory
short_description: Check an inventory for the deployment it describes, listing every problem
version_added: 0.1.0
description:
  - The preflight of C(playbooks/validate.yml). Runs on the controller and contacts no host.
  - On the play's first host it checks the inventory as a whole (C(dsa_platform), groups, node
    addresses, C(dsa_api_url), and for C(microk8s) the cluster variables and exactly one host in
    group C(k8s_controller)); on every host it checks that host (its address and, in host mode, its
    instance count, port plan and whether Prometheus can scrape it; in C(microk8s) mode, on the
    C(k8s_controller) host, C(dsa_k8s_kubeconfig), C(dsa_database_k8s_mode), C(dsa_k8s_pod_security)
    and the namespace names).
  - Values are templated first, so role defaults derived from the platform variables count; the
    play imports the roles (without running them) to bring their defaults into scope.
  - Fails once per host with every problem found, each naming the variable or group to fix.
  - The rules are plain functions in C(plugins/module_utils/checks/deployment.py).
author:
  - dsa.platform developers (@dsa-platform)
options: {}
attributes:
  check_mode:
    support: full
  diff_mode:
    support: none
'''

EXAMPLES = r'''
- name: Check the inventory, listing every problem
  dsa.platform.validate_inventory:
'''

RETURN = r'''
problems:
  description: The problems found (empty when the task succeeds; the failure message lists them otherwise).
  returned: success
  type: list
  elements: str
'''
