"""Suggestions from the findings and the measured load, each a patch to the inventory's variables
(names as the roles define them, see inventory.VARIABLES) with the evidence it rests on.

Rules (docs/agent.md explains them):
- balance: p95 latency differs across upstream instances by 1.5x or more while nginx balances
  round robin -> least_conn (requests go to the instance with the fewest in flight);
- capacity (Little's law): concurrency L = arrival rate x mean latency. One instance serves
  workers x threads at once; aim for at most 60 % of that -> iot_api_instances;
- threads: per-worker concurrency near its thread count while CPU is not the limit -> more threads;
- workers: one gunicorn worker per core when the host's CPU is busy and there are fewer workers
  than cores (Python threads share one core per process), or more than twice as many;
- pool: the connection pool is full (in use = max) -> iot_api_pool_size up to the thread count,
  within PostgreSQL's max_connections;
- k6 preset: the next run's preset from what the last runs showed.
"""
import math

TARGET_UTILISATION = 0.6


def _int(v, default):
    try:
        return int(v)
    except (TypeError, ValueError):
        return default


def _sugg(rule, title, rationale, evidence, group, variables, cur, confidence=0.7):
    return {"id": None, "rule": rule, "title": title, "rationale": rationale,
            "evidence": evidence, "patch": {group: variables},
            "current": {k: cur.get(k) for k in variables}, "confidence": confidence,
            "status": "proposed"}


def suggest(findings: list[dict], load: dict, cur: dict, k6_runs: list[dict] | None = None,
            mode: str = "host") -> list[dict]:
    out = []
    instances = _int(cur.get("iot_api_instances"), 2)
    workers = _int(cur.get("iot_api_workers"), 2)
    threads = _int(cur.get("iot_api_threads"), 4)
    pool = _int(cur.get("iot_api_pool_size"), 8)
    max_conn = _int(cur.get("postgresql_max_connections"), 200)
    worker_class = cur.get("iot_api_worker_class") or "gthread"
    slots = workers * (threads if worker_class == "gthread" else 1)
    if worker_class == "gevent":
        slots = workers * pool  # greenlets wait for the pool, which is the real bound

    per_instance = load.get("p95_by_instance") or {}
    if len(per_instance) >= 2 and cur.get("iot_api_nginx_balance") == "round_robin":
        lo, hi = min(per_instance.values()), max(per_instance.values())
        if lo > 0 and hi / lo >= 1.5 and hi - lo >= 0.005:
            slow = max(per_instance, key=per_instance.get)
            out.append(_sugg(
                "balance", "Balance by least connections",
                f"p95 latency differs across instances ({lo * 1000:.1f} ms to {hi * 1000:.1f} ms,"
                f" slowest {slow}); round robin keeps sending the slow one an equal share,"
                " least_conn sends new requests where fewer are in flight.",
                [{"measurement": "p95_by_instance", "query": load.get("p95_by_instance_query"),
                  "value": per_instance}],
                "iot_api", {"iot_api_nginx_balance": "least_conn"}, cur, 0.8))

    rate, latency = load.get("arrival_rate"), load.get("mean_latency_s")
    if rate and latency and rate > 0 and latency > 0:
        concurrency = rate * latency
        need = max(1, math.ceil(concurrency / (TARGET_UTILISATION * slots)))
        ev = [{"measurement": "arrival_rate", "query": load.get("arrival_rate_query"),
               "value": round(rate, 3)},
              {"measurement": "mean_latency_s", "query": load.get("mean_latency_query"),
               "value": round(latency, 5)},
              {"measurement": "concurrency (Little's law L = lambda x W)",
               "value": round(concurrency, 3)}]
        if need > instances:
            out.append(_sugg(
                "capacity", f"Run {need} API instances",
                f"{rate:.1f} req/s at {latency * 1000:.1f} ms mean keeps {concurrency:.1f}"
                f" requests in flight (L = lambda W); {instances} instance(s) x {slots}"
                f" slots at {TARGET_UTILISATION:.0%} target utilisation serve"
                f" {instances * slots * TARGET_UTILISATION:.1f}.",
                ev, "iot_api", {"iot_api_instances": need}, cur, 0.75))
        per_worker = concurrency / max(1, instances * workers)
        cpu = load.get("api_cpu_utilisation")
        if worker_class == "gthread" and per_worker > 0.8 * threads and (cpu is None or cpu < 0.7):
            new_threads = min(32, max(threads + 2, math.ceil(per_worker / TARGET_UTILISATION)))
            variables = {"iot_api_threads": new_threads}
            if pool < new_threads:
                variables["iot_api_pool_size"] = new_threads
            out.append(_sugg(
                "threads", f"Use {new_threads} threads per worker",
                f"each worker has {per_worker:.1f} requests in flight for {threads} threads while"
                f" CPU use is {'unknown' if cpu is None else f'{cpu:.0%}'}: the requests wait on"
                " I/O, so more threads (and connections for them) raise throughput.",
                ev + ([{"measurement": "api_cpu_utilisation", "value": cpu}] if cpu is not None
                      else []), "iot_api", variables, cur, 0.6))

    cores, host_cpu = load.get("cores"), load.get("host_cpu_utilisation")
    if cores and ((workers < cores and host_cpu is not None and host_cpu > 0.7)
                  or workers > 2 * cores):
        variables = {"iot_api_workers": cores}
        if instances * cores * pool > max_conn - 10:
            variables["iot_api_pool_size"] = max(1, (max_conn - 10) // (instances * cores))
        out.append(_sugg(
            "workers", f"Run {cores} workers per instance",
            f"the hosts have {cores} cores and their CPU is"
            f" {'unknown' if host_cpu is None else f'{host_cpu:.0%}'} busy with {workers}"
            " worker(s): one process per core lets Python use every core without"
            " oversubscribing them.",
            [{"measurement": "cores", "value": cores},
             {"measurement": "host_cpu_utilisation", "query": load.get("cpu_query"),
              "value": host_cpu}], "iot_api", variables, cur, 0.6))

    in_use, pool_max = load.get("pool_in_use_max"), load.get("pool_max")
    if in_use is not None and pool_max and in_use >= pool_max and pool < threads:
        new_pool = threads
        budget = instances * workers * new_pool
        if budget <= max_conn - 10:
            out.append(_sugg(
                "pool", f"Raise the connection pool to {new_pool}",
                f"the pools were full ({in_use:g} of {pool_max:g} connections in use) with"
                f" {threads} threads per worker; {instances} x {workers} x {new_pool} = {budget}"
                f" connections fit in max_connections {max_conn}.",
                [{"measurement": "pool_in_use_max", "query": load.get("pool_query"),
                  "value": in_use}], "iot_api", {"iot_api_pool_size": new_pool}, cur, 0.7))
    elif instances * workers * pool > max_conn - 10:
        fit = max(1, (max_conn - 10) // max(1, instances * workers))
        out.append(_sugg(
            "pool", f"Lower the connection pool to {fit}",
            f"{instances} x {workers} x {pool} = {instances * workers * pool} connections exceed"
            f" max_connections {max_conn} less 10 reserved: PostgreSQL would refuse some.",
            [{"measurement": "connection budget", "value": instances * workers * pool}],
            "iot_api", {"iot_api_pool_size": fit}, cur, 0.9))

    runs = sorted(k6_runs or [], key=lambda r: r.get("mtime", 0))
    if runs:
        last = runs[-1]
        preset = cur.get("k6_preset") or "smoke"
        bad = last["failure_rate"] > 0.01 or not last.get("thresholds_ok", True)
        short = last.get("offered_rate") and last["achieved_rate"] < 0.9 * last["offered_rate"]
        nxt = preset
        if bad or short or last.get("dropped_iterations"):
            nxt = "smoke"
            why = (f"the last run ({last['configuration']}/{last['scenario']}) failed"
                   f" {last['failure_rate']:.1%} of requests, achieved {last['achieved_rate']:.1f}"
                   f" req/s of {last.get('offered_rate') or 0:.1f} offered and dropped"
                   f" {last.get('dropped_iterations', 0)} iterations: fix that with a smoke run"
                   " before a longer one.")
        elif preset == "smoke":
            nxt, why = "reference", "the smoke run passed cleanly: run the reference scenarios."
        elif preset == "reference":
            nxt, why = "capacity", "the reference run passed cleanly: find the capacity."
        if nxt != preset:
            out.append(_sugg(
                "k6_preset", f"Next k6 run: {nxt}", why,
                [{"measurement": "k6 run", "value": {
                    k: last.get(k) for k in ("configuration", "scenario", "requests",
                                             "achieved_rate", "offered_rate", "failure_rate",
                                             "dropped_iterations", "latency_ms", "path")}}],
                "loadgen", {"k6_preset": nxt}, cur, 0.6))
    for i, s in enumerate(out, 1):
        s["id"] = f"s{i}"
    return out
