# -*- coding: utf-8 -*-
# Copyright: dsa.platform developers
# MIT License (see LICENSE or https://opensource.org/licenses/MIT)
"""Prometheus static configs for instances that are scraped through a proxy on their host."""

from ansible.errors import AnsibleFilterError


def proxied_static_configs(targets, proxy_port, path="/instances/{port}/metrics"):
    """``['app1:8001', ...]`` -> one static config per instance, scraped at ``app1:<proxy_port><path>``.

    The ``instance`` label stays the instance's own ``address:port``, so series from two instances of
    one host never collide and read the same as when scraped directly.
    """
    if targets is None:
        return []
    configs = []
    for target in targets:
        address, sep, port = str(target).rpartition(":")
        if not sep or not address or not port.isdigit():
            raise AnsibleFilterError(f"proxied_static_configs: {target!r} is not address:port")
        configs.append({
            "targets": [f"{address}:{int(proxy_port)}"],
            "labels": {"instance": str(target), "__metrics_path__": path.format(port=int(port))},
        })
    return configs


class FilterModule:
    def filters(self):
        return {"proxied_static_configs": proxied_static_configs}
