"""Where the swarm backend places a run's tiers, what it refuses there, and where its load
workers find their master."""

from harness.backends.swarm_engine import master_address, placement_of


def _node(node_id: str, hostname: str, tier: str | None = None) -> dict[str, object]:
    return {"ID": node_id, "Description": {"Hostname": hostname},
            "Spec": {"Labels": {"ladder.tier": tier} if tier else {}}}


def test_with_no_tier_labels_the_tiers_run_on_this_node_and_the_load_anywhere() -> None:
    placed = placement_of([_node("a", "lab-1"), _node("b", "spare")], "a")
    assert placed.app == placed.db == ("node.id==a",) and placed.load == ()
    assert placed.elsewhere == () and placed.refusal(1.0, profiled=True) is None
    assert placed.describe() == "application tier on this node, PostgreSQL on this node, load workers anywhere"


def test_a_tier_labelled_on_another_node_goes_there_and_is_named() -> None:
    # fails if the label is ignored (the tier would stay here) or this node is named as "another"
    nodes = [_node("a", "lab-1", "db"), _node("b", "app-1", "app"), _node("c", "load-1", "load")]
    placed = placement_of(nodes, "a")
    assert placed.app == ("node.labels.ladder.tier==app",) and placed.db == ("node.labels.ladder.tier==db",)
    assert placed.load == ("node.labels.ladder.tier==load",)
    assert placed.elsewhere == ("app",) and placed.nodes == ("app-1",)
    assert placed.describe() == ("application tier on ladder.tier==app, PostgreSQL on ladder.tier==db, "
                                 "load workers on ladder.tier==load")


def test_tiers_on_other_nodes_need_the_real_network_and_no_profile() -> None:
    # fails if a wire or py-spy is let in where they cannot measure what they claim to
    placed = placement_of([_node("a", "lab-1"), _node("b", "db-1", "db")], "a")
    assert placed.refusal(0.0, profiled=False) is None
    wire = placed.refusal(1.0, profiled=False)
    assert wire is not None and "db tier on db-1" in wire and "--rtt 0" in wire
    profile = placed.refusal(0.0, profiled=True)
    assert profile is not None and "--profile" in profile


def test_workers_reach_the_master_at_the_swarm_address_unless_it_is_loopback() -> None:
    # a worker's loopback is its own: a one-node swarm advertised on 127.0.0.1 uses the bridge's gateway
    assert master_address("127.0.0.1", "172.18.0.1") == "172.18.0.1"
    assert master_address("10.0.0.5", "172.18.0.1") == "10.0.0.5"
