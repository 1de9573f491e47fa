from ansible_collections.dsa.platform.plugins.module_utils.checks.inventory import (
    address_problems,
    network_problems,
    port_problems,
    url_problems,
)


def test_good_networks_have_no_problems():
    assert network_problems(["10.0.0.0/8", "192.168.10.0/24", "fd00::/64"], "nets") == []


def test_bad_networks_are_named_by_index_with_the_fix():
    problems = network_problems(["10.0.0.0/8", "10.0.0.300/24", "10.1.2.3/24", "10.0.0.0"], "nets")
    assert problems[0].startswith("nets[1]: '10.0.0.300/24' not a valid network")
    assert problems[1] == "nets[2]: '10.1.2.3/24' has host bits set; the network is 10.1.2.0/24"
    assert problems[2] == "nets[3]: '10.0.0.0' needs a prefix length, e.g. 192.0.2.7/32 for one host"
    assert network_problems("10.0.0.0/8", "nets") == ["nets: '10.0.0.0/8' must be a list of networks"]


def test_addresses():
    assert address_problems("10.1.2.3", "ansible_host") == []
    assert address_problems("db-1.campus.example", "ansible_host") == []
    assert address_problems("::1", "ansible_host") == []
    assert address_problems("not a host", "ansible_host") == ["ansible_host: 'not a host' is neither an IP address nor a host name"]


def test_urls():
    assert url_problems("http://127.0.0.1:8080", "dsa_api_url") == []
    assert url_problems("https://api.campus.example", "dsa_api_url") == []
    assert url_problems("ftp://x", "dsa_api_url") == ["dsa_api_url: 'ftp://x' must start with http:// or https://"]
    assert "has an invalid port" in url_problems("http://h:99999", "dsa_api_url")[0]
    assert "has no host" in url_problems("http://", "dsa_api_url")[0]
    assert url_problems("http://[api1]:80", "dsa_api_url")[0].startswith("dsa_api_url: 'http://[api1]:80' is not a URL")


def test_port_clashes_name_both_variables():
    assert port_problems({"a": 80, "b": [8001, 8002]}, "h") == []
    problems = port_problems({"iot_api_nginx_port": 9090, "observability_prometheus_port": 9090, "x": 70000}, "node1")
    assert problems == [
        "observability_prometheus_port: port 9090 is already used by iot_api_nginx_port on node1",
        "x: 70000 is outside 1-65535 (on node1)",
    ]
