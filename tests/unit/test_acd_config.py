from pathlib import Path

import pytest
from pydantic import ValidationError

from acd import AcdConfig

ROOT = Path(__file__).resolve().parents[2]


def shipped_config() -> AcdConfig:
    """config/queues.yaml with the agents of config/agents.yaml, as the engine reads them."""
    from ivr.config import load_settings
    return load_settings(ROOT / "config" / "engine.yaml").acd_config()


def test_shipped_queues_yaml_parses() -> None:
    cfg = shipped_config()
    assert {a.name for a in cfg.agents} == {"alice", "bob", "carol", "dave"}
    assert all(a.endpoint == a.name for a in cfg.agents)
    names = {q.name for q in cfg.queues}
    assert names == {"operator", "orders", "medinfo", "pharmacovigilance", "complaints"}
    pv = next(q for q in cfg.queues if q.name == "pharmacovigilance")
    assert pv.requirement == "pv >= 3"
    assert pv.priority == max(q.priority for q in cfg.queues)
    rules = {s.rule for q in cfg.queues for s in q.escalation}
    assert rules == {"widen", "overflow", "offer_callback", "divert"}


def test_list_and_mapping_shapes() -> None:
    a = AcdConfig.from_dict({"agents": [{"name": "x", "skills": {"fr": 1}}],
                             "queues": [{"name": "q", "requirement": "fr"}]})
    b = AcdConfig.from_dict({"agents": {"x": {"skills": {"fr": 1}}}, "queues": {"q": {"requirement": "fr"}}})
    assert a == b


@pytest.mark.parametrize("bad", [
    {"agents": {"x": {"skills": {"fr": 6}}}},
    {"queues": {"q": {"requirement": "fr >="}}},
    {"queues": {"q": {"strategy": "random"}}},
    {"queues": {"q": {"escalation": [{"after_seconds": 5}]}}},
    {"queues": {"q": {"escalation": [{"after_seconds": 5, "widen": "a", "divert": "x"}]}}},
    {"queues": {"q": {"escalation": [{"after_seconds": 5, "overflow": "nowhere"}]}}},
    {"queues": {"q": {"escalation": [{"after_seconds": 50, "divert": "x"},
                                     {"after_seconds": 5, "divert": "y"}]}}},
    {"queues": {"q": {"max_ewt_seconds": 60}}},
    {"queues": {"q": {"join_when_no_agents": "maybe"}}},
])
def test_invalid_configs_rejected(bad: dict) -> None:
    with pytest.raises(ValidationError):
        AcdConfig.from_dict(bad)
