import pytest

from ansible_collections.dsa.platform.plugins.filter.net import FilterModule, invalid_networks
from ansible_collections.dsa.platform.plugins.module_utils.checks.netcheck import network_problem


@pytest.mark.parametrize("value", ["10.0.0.0/8", "192.168.56.0/24", "192.0.2.7/32", "0.0.0.0/0", "fd00::/64", "::1/128", "2001:db8::/32"])
def test_valid_networks_pass(value):
    assert network_problem(value) is None


@pytest.mark.parametrize(
    "value, reason",
    [
        ("10.1.2.3/16", "host bits set; the network is 10.1.0.0/16"),
        ("fd00::1/64", "host bits set; the network is fd00::/64"),
        ("192.168.1.10", "needs a prefix length"),
        ("10.0.0.0/255.0.0.0", "prefix length must be a number"),
        ("10/8", "not a valid network"),
        ("10.1/16", "not a valid network"),
        ("256.0.0.0/8", "not a valid network"),
        ("10.0.0.0/33", "not a valid network"),
        ("fd00::/129", "not a valid network"),
        ("office-lan", "needs a prefix length"),
        (" 10.0.0.0/8", "without surrounding spaces"),
        ("", "without surrounding spaces"),
        (10, "must be a string"),
        (None, "must be a string"),
    ],
)
def test_invalid_networks_say_why(value, reason):
    assert reason in network_problem(value)


def test_filter_returns_only_the_bad_entries_with_their_index():
    problems = invalid_networks(["10.0.0.0/8", "10.1.2.3/16", "fd00::/64", "lan"])
    assert [(p["index"], p["value"]) for p in problems] == [(1, "10.1.2.3/16"), (3, "lan")]
    assert "10.1.0.0/16" in problems[0]["reason"]


def test_empty_or_missing_list_is_valid():
    assert invalid_networks([]) == []
    assert invalid_networks(None) == []


def test_a_single_string_instead_of_a_list_is_refused():
    problems = invalid_networks("10.0.0.0/8")
    assert problems == [{"index": None, "value": "10.0.0.0/8", "reason": "must be a list of networks"}]


def test_filter_is_registered():
    assert FilterModule().filters()["invalid_networks"] is invalid_networks
