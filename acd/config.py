"""ACD configuration (the shape of config/queues.yaml), validated with pydantic."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .channels import ChannelProfile, ChannelSettings
from .skills import compile_requirement

Strategy = Literal["longest-idle", "most-skilled", "least-skilled", "round-robin", "fewest-calls", "ring-all"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class AgentSpec(_Model):
    name: str
    endpoint: str = ""
    skills: dict[str, int] = Field(default_factory=dict)
    channels: ChannelProfile = Field(default_factory=ChannelProfile)  # capacity per channel

    @field_validator("skills")
    @classmethod
    def _levels(cls, v: dict[str, int]) -> dict[str, int]:
        for k, lvl in v.items():
            if not 1 <= lvl <= 5:
                raise ValueError(f"skill {k!r}: level {lvl} outside 1-5")
        return v

    @model_validator(mode="after")
    def _endpoint(self) -> "AgentSpec":
        if not self.endpoint:
            object.__setattr__(self, "endpoint", self.name)
        return self


class EscalationStep(_Model):
    """One step; exactly one of widen / overflow / offer_callback / divert."""
    after_seconds: float = Field(ge=0)
    widen: str | None = None
    overflow: str | None = None
    offer_callback: bool = False
    divert: str | None = None

    @model_validator(mode="after")
    def _one(self) -> "EscalationStep":
        n = sum(x is not None for x in (self.widen, self.overflow, self.divert)) + self.offer_callback
        if n != 1:
            raise ValueError("an escalation step needs exactly one of widen/overflow/offer_callback/divert")
        if self.widen is not None:
            compile_requirement(self.widen)
        return self

    @property
    def rule(self) -> str:
        if self.widen is not None:
            return "widen"
        if self.overflow is not None:
            return "overflow"
        return "offer_callback" if self.offer_callback else "divert"


class QueueSpec(_Model):
    name: str
    requirement: str = ""
    priority: int = 0  # added to every caller's priority (pharmacovigilance first)
    strategy: Strategy = "longest-idle"
    service_level_seconds: float = 20.0
    service_level_target: float = 0.8
    ring_timeout: float = 15.0
    wrapup_seconds: float = 0.0
    announce_every_seconds: float = 0.0  # 0: never
    max_length: int = 0                  # 0: unlimited
    congestion_destination: str = "hangup"
    join_when_no_agents: Literal["refuse", "divert", "join"] = "join"
    no_agents_destination: str = ""      # for "divert"; defaults to congestion_destination
    max_ewt_seconds: float = 0.0         # 0: no limit
    max_ewt_destination: str = ""
    aht_seconds: float = 180.0           # initial handle-time estimate for EWT
    escalation: list[EscalationStep] = Field(default_factory=list)

    @field_validator("requirement")
    @classmethod
    def _req(cls, v: str) -> str:
        compile_requirement(v)  # raises SkillExpressionError (a ValueError) with position
        return v

    @model_validator(mode="after")
    def _sorted(self) -> "QueueSpec":
        times = [s.after_seconds for s in self.escalation]
        if times != sorted(times):
            raise ValueError(f"queue {self.name}: escalation steps must be in after_seconds order")
        if self.max_ewt_seconds and not self.max_ewt_destination:
            raise ValueError(f"queue {self.name}: max_ewt_seconds needs max_ewt_destination")
        return self


class AcdConfig(_Model):
    priority_step_seconds: float = 60.0  # one priority level is worth this much waiting (ageing)
    agents: list[AgentSpec] = Field(default_factory=list)
    queues: list[QueueSpec] = Field(default_factory=list)
    channels: ChannelSettings = Field(default_factory=ChannelSettings)  # SL targets per channel

    @model_validator(mode="after")
    def _refs(self) -> "AcdConfig":
        names = {q.name for q in self.queues}
        if len(names) != len(self.queues):
            raise ValueError("duplicate queue name")
        if len({a.name for a in self.agents}) != len(self.agents):
            raise ValueError("duplicate agent name")
        for q in self.queues:
            for s in q.escalation:
                if s.overflow is not None and s.overflow not in names:
                    raise ValueError(f"queue {q.name}: overflow to unknown queue {s.overflow!r}")
        return self

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "AcdConfig":
        """Accept agents/queues either as lists or as mappings keyed by name."""
        data = dict(data or {})
        for key in ("agents", "queues"):
            items = data.get(key) or []
            if isinstance(items, dict):
                items = [{"name": n, **(v or {})} for n, v in items.items()]
            data[key] = items
        return cls.model_validate(data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> "AcdConfig":
        import yaml

        return cls.from_dict(yaml.safe_load(Path(path).read_text(encoding="utf-8")))
