"""Merge desired kernel settings with the values a host already has, never lowering one.

"Lower" depends on the key: a bigger backlog is more tuned, a shorter FIN timeout is more
tuned, a wider port range is more tuned. Each key has a direction; unknown keys default to
`max` for single integers and `exact` for anything else.
"""

DIRECTIONS = ("max", "min", "range", "vector_max", "exact")

# Keys whose tuned value is the smaller one, or that are not plain integers.
DEFAULT_DIRECTIONS = {
    "net.ipv4.tcp_fin_timeout": "min",
    "vm.swappiness": "min",
    "net.ipv4.ip_local_port_range": "range",
    "net.ipv4.tcp_rmem": "vector_max",
    "net.ipv4.tcp_wmem": "vector_max",
    "net.ipv4.tcp_congestion_control": "exact",
    "net.core.default_qdisc": "exact",
    "net.ipv4.tcp_tw_reuse": "exact",
}


def _ints(value):
    return [int(part) for part in str(value).split()]


def direction_of(key, value, overrides=None):
    direction = (overrides or {}).get(key) or DEFAULT_DIRECTIONS.get(key)
    if direction:
        if direction not in DIRECTIONS:
            raise ValueError(f"{key}: unknown direction {direction!r}; use one of {', '.join(DIRECTIONS)}")
        return direction
    try:
        return "max" if len(_ints(value)) == 1 else "exact"
    except ValueError:
        return "exact"


def merge_value(key, desired, current, direction):
    """The value to persist for one key: the desired one unless the current one is better."""
    if current is None or str(current).strip() == "":
        return str(desired)
    if direction == "exact":
        return str(desired)
    want, have = _ints(desired), _ints(current)
    if direction == "max":
        return str(max(want[0], have[0]))
    if direction == "min":
        return str(min(want[0], have[0]))
    if direction == "range":
        if len(want) != 2 or len(have) != 2:
            raise ValueError(f"{key}: a range needs two numbers, got {desired!r} and {current!r}")
        return f"{min(want[0], have[0])} {max(want[1], have[1])}"
    if len(want) != len(have):
        return str(desired)
    return " ".join(str(max(w, h)) for w, h in zip(want, have))


def normalise(value):
    """sysctl prints vectors with tabs; compare and persist them with single spaces."""
    return " ".join(str(value).split())


def merge(desired, current, overrides=None):
    """Return {key: value to persist} for every desired key.

    desired: {key: value}; current: {key: value or None when the key does not exist}.
    """
    merged = {}
    for key, want in desired.items():
        direction = direction_of(key, want, overrides)
        have = current.get(key)
        merged[key] = normalise(merge_value(key, normalise(want), None if have is None else normalise(have), direction))
    return merged


def parse_sysctl_output(text):
    """`sysctl -e key ...` prints `key = value` lines; unknown keys print nothing."""
    current = {}
    for line in text.splitlines():
        key, sep, value = line.partition(" = ")
        if sep:
            current[key.strip()] = normalise(value)
    return current


def plan(desired, sysctl_output, directions=None, congestion_control="", in_container=False,
         proc_sys_read_only=False, apply_runtime=True):
    """Decide what to persist, what to apply to the running kernel, and what cannot be applied.

    Returns {"persist": {key: value}, "apply": {key: value}, "not_applied": {key: reason}}.
    `apply` holds only keys whose running value differs, so a converged host gets an empty one.
    """
    current = parse_sysctl_output(sysctl_output)
    wanted = {key: value for key, value in desired.items() if key in current}
    not_applied = {key: "not known to this kernel" for key in desired if key not in current}
    if congestion_control:
        available = current.get("net.ipv4.tcp_available_congestion_control", "").split()
        if congestion_control in available:
            wanted["net.ipv4.tcp_congestion_control"] = congestion_control
        else:
            not_applied["net.ipv4.tcp_congestion_control"] = f"{congestion_control} is not offered by this kernel"

    persist = merge(wanted, current, directions)
    apply = {}
    for key, value in persist.items():
        if not apply_runtime:
            not_applied[key] = "runtime apply disabled (os_tuning_apply_runtime)"
        elif in_container and not key.startswith("net."):
            not_applied[key] = "global kernel setting: a container must not change it"
        elif proc_sys_read_only:
            not_applied[key] = "/proc/sys is read-only here"
        elif current.get(key) != value:
            apply[key] = value
    return {"persist": persist, "apply": apply, "not_applied": not_applied}
