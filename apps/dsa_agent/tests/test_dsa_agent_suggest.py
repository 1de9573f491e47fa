"""The suggestion rules (each with its evidence, on the roles' real variable names) and the
inventory check that runs before a suggestion is shown."""
from dsa_agent import inventory
from dsa_agent.suggest import suggest

CUR = dict(inventory.current(None)["values"])  # the roles' defaults


def _one(out, rule):
    (s,) = [x for x in out if x["rule"] == rule]
    assert s["evidence"], s
    return s


def test_uneven_upstreams_under_round_robin_suggest_least_conn():
    load = {"p95_by_instance": {"127.0.0.1:8001": 0.010, "127.0.0.1:8002": 0.045},
            "p95_by_instance_query": "q"}
    s = _one(suggest([], load, CUR), "balance")
    assert s["patch"] == {"iot_api": {"iot_api_nginx_balance": "least_conn"}}
    assert s["current"] == {"iot_api_nginx_balance": "round_robin"}
    even = {"p95_by_instance": {"a": 0.010, "b": 0.011}}
    assert not [x for x in suggest([], even, CUR) if x["rule"] == "balance"]
    already = dict(CUR, iot_api_nginx_balance="least_conn")
    assert not [x for x in suggest([], load, already) if x["rule"] == "balance"]


def test_littles_law_sizes_the_instances():
    # 400 req/s x 0.1 s = 40 in flight; 2 workers x 4 threads x 0.6 = 4.8 per instance -> 9
    load = {"arrival_rate": 400.0, "mean_latency_s": 0.1, "api_cpu_utilisation": 0.9}
    s = _one(suggest([], load, CUR), "capacity")
    assert s["patch"] == {"iot_api": {"iot_api_instances": 9}}
    assert any("Little" in e["measurement"] for e in s["evidence"])
    light = {"arrival_rate": 20.0, "mean_latency_s": 0.005}
    assert suggest([], light, CUR) == []


def test_io_bound_workers_get_more_threads_and_connections():
    load = {"arrival_rate": 100.0, "mean_latency_s": 0.15, "api_cpu_utilisation": 0.3}
    s = _one(suggest([], load, CUR), "threads")
    threads = s["patch"]["iot_api"]["iot_api_threads"]
    assert threads > 4  # 15 in flight over 4 workers' 4 threads, CPU at 30 %
    assert s["patch"]["iot_api"].get("iot_api_pool_size", 8) >= threads


def test_a_full_pool_is_raised_within_max_connections():
    cur = dict(CUR, iot_api_pool_size=2)
    s = _one(suggest([], {"pool_in_use_max": 2.0, "pool_max": 2.0, "pool_query": "q"}, cur),
             "pool")
    assert s["patch"] == {"iot_api": {"iot_api_pool_size": 4}}
    over = dict(CUR, iot_api_instances=10, iot_api_workers=4, iot_api_pool_size=8)
    s = _one(suggest([], {}, over), "pool")
    assert s["patch"] == {"iot_api": {"iot_api_pool_size": 4}}  # 10 x 4 x 4 = 160 <= 190


def test_the_next_k6_preset_follows_the_last_run():
    clean = {"configuration": "c", "scenario": "s", "failure_rate": 0.0, "achieved_rate": 20.0,
             "offered_rate": 20.0, "dropped_iterations": 0, "thresholds_ok": True, "mtime": 1}
    assert _one(suggest([], {}, CUR, [clean]), "k6_preset")["patch"] == {
        "loadgen": {"k6_preset": "reference"}}
    ref = dict(CUR, k6_preset="reference")
    assert _one(suggest([], {}, ref, [clean]), "k6_preset")["patch"] == {
        "loadgen": {"k6_preset": "capacity"}}
    failed = dict(clean, failure_rate=0.2, mtime=2)
    s = _one(suggest([], {}, ref, [clean, failed]), "k6_preset")
    assert s["patch"] == {"loadgen": {"k6_preset": "smoke"}} and "20.0%" in s["rationale"]


def test_the_check_refuses_what_the_roles_refuse(inventory):
    from dsa_agent import inventory as inv
    bad = inventory  # the fixture: a copy of inventories/local
    r = inv.validate(bad, {"iot_api": {"iot_api_nginx_balance": "fastest"}})
    assert r["ok"] is False and "iot_api_nginx_balance: must be one of" in r["detail"]
    r = inv.validate(bad, {"iot_api": {"iot_api_pool_size": 100}})
    assert r["ok"] is False and "postgresql_max_connections" in r["detail"]
    r = inv.validate(bad, {"iot_api": {"iot_api_instances": 0}})
    assert r["ok"] is False and "iot_api_instances" in r["detail"]  # from validate.yml
    r = inv.validate(bad, {"iot_api": {"k6_preset": "smoke"}})
    assert r["ok"] is False and "belongs in group_vars/loadgen" in r["detail"]
    r = inv.validate(bad, {"iot_api": {"iot_api_threads": 8}})
    assert r["ok"] is True, r
    r = inv.validate(None, {"iot_api": {"iot_api_threads": 8}})
    assert r["ok"] is None and "not checked" in r["detail"]


def test_current_values_and_diff_come_from_group_vars(inventory):
    from dsa_agent import inventory as inv
    c = inv.current(inventory)
    assert c["values"]["iot_api_nginx_balance"] == "least_conn"  # inventories/local sets it
    assert c["source"]["iot_api_nginx_balance"] == "group_vars/iot_api.yml"
    assert c["source"]["iot_api_threads"] == "role default"
    d = inv.diff(inventory, {"iot_api": {"iot_api_threads": 8}})
    assert "+iot_api_threads: 8" in d and "b/group_vars/iot_api.yml" in d


def test_workers_follow_the_cores_when_the_cpu_is_busy():
    s = _one(suggest([], {"cores": 4, "host_cpu_utilisation": 0.85, "cpu_query": "q"}, CUR),
             "workers")
    assert s["patch"] == {"iot_api": {"iot_api_workers": 4}}
    assert not [x for x in suggest([], {"cores": 4, "host_cpu_utilisation": 0.3}, CUR)
                if x["rule"] == "workers"]
    many = dict(CUR, iot_api_workers=9)
    assert _one(suggest([], {"cores": 2}, many), "workers")["patch"] == {
        "iot_api": {"iot_api_workers": 2}}
