"""Which swarms the swarm backend measures, and where its load workers find their master."""

from harness.backends.swarm_engine import master_address, refusal


def _node(hostname: str, tier: str | None = None) -> dict[str, object]:
    return {"Description": {"Hostname": hostname}, "Spec": {"Labels": {"ladder.tier": tier} if tier else {}}}


def test_one_node_is_measured_whatever_its_labels() -> None:
    assert refusal({"a": _node("lab-1")}, "a") is None
    assert refusal({"a": _node("lab-1", "db")}, "a") is None


def test_other_nodes_may_carry_only_the_load() -> None:
    # fails if an unlabelled node or one labelled for a tier is let in: the tiers' evidence would go unread
    nodes = {"a": _node("lab-1"), "b": _node("load-1", "load"), "c": _node("db-1", "db"), "d": _node("spare")}
    why = refusal(nodes, "a")
    assert why is not None and "db-1, spare" in why and "load-1" not in why
    assert "docker node update --label-add ladder.tier=load" in why
    assert refusal({"a": _node("lab-1"), "b": _node("load-1", "load"), "c": _node("load-2", "load")}, "a") is None


def test_workers_reach_the_master_at_the_swarm_address_unless_it_is_loopback() -> None:
    # a worker's loopback is its own: a one-node swarm advertised on 127.0.0.1 uses the bridge's gateway
    assert master_address("127.0.0.1", "172.18.0.1") == "172.18.0.1"
    assert master_address("10.0.0.5", "172.18.0.1") == "10.0.0.5"
