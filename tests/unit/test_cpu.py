import pytest

from harness.cpu import CpuBudget, available_cpus, format_cpus, parse_cpus
from harness.errors import OptionError, UserError


@pytest.mark.parametrize("spec, cpus", [("1", {1}), ("0-3", {0, 1, 2, 3}), ("0,2-3", {0, 2, 3})])
def test_parse_cpus(spec: str, cpus: set[int]) -> None:
    assert parse_cpus(spec) == cpus
    assert parse_cpus(format_cpus(frozenset(cpus))) == cpus


@pytest.mark.parametrize("spec", ["", "a", "1-x", "--"])
def test_parse_cpus_rejects(spec: str) -> None:
    with pytest.raises(UserError, match="invalid CPU list"):
        parse_cpus(spec)


def test_cpus_that_do_not_exist_are_rejected() -> None:
    with pytest.raises(UserError, match="do not exist"):
        CpuBudget.from_options("999", None, None)


def test_budget_overlapping_the_generator_is_rejected() -> None:
    cpus = sorted(available_cpus())
    if len(cpus) < 2:
        pytest.fail("this test needs a machine with two CPUs or more")
    with pytest.raises(UserError, match="overlap"):
        CpuBudget.from_options(str(cpus[0]), str(cpus[0]), None)


def test_default_budget_is_disjoint_on_two_cores(monkeypatch: pytest.MonkeyPatch) -> None:
    # what the machine has is an input here: the rule is checked for two, four and one CPU
    import harness.cpu as cpu

    monkeypatch.setattr(cpu, "available_cpus", lambda: frozenset({0, 1}))
    assert CpuBudget.default() == CpuBudget(server=frozenset({1}), load=frozenset({0}))
    monkeypatch.setattr(cpu, "available_cpus", lambda: frozenset({0, 1, 2, 3}))
    assert CpuBudget.default() == CpuBudget(server=frozenset({3}), load=frozenset({0, 1, 2}))
    # one CPU: nothing can be disjoint, so server and load share it (and the run says so)
    monkeypatch.setattr(cpu, "available_cpus", lambda: frozenset({0}))
    assert CpuBudget.default() == CpuBudget(server=frozenset({0}), load=frozenset({0}))


def test_quota_must_fit_the_cpus() -> None:
    with pytest.raises(OptionError, match="must be in") as refused:
        CpuBudget.from_options(None, None, 5.0)
    assert refused.value.options == ("cpu_quota",)
