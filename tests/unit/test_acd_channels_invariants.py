"""Property test: random mixes of calls, tasks and agent changes through ContactCenter never
break the multichannel rules: capacity never exceeded, no task offered to an agent busy with a
call or without the channel, no call offered to an agent held by tasks, and no offerable agent
left idle beside a waiting task that fits it."""
from hypothesis import given, settings
from hypothesis import strategies as st

from acd import actions as A
from acd import events as E
from acd.center import ContactCenter
from acd.config import AcdConfig
from acd.state import AgentState
from acd.tasks import OFFERED, WAITING

AGENTS = {"a": {"skills": {"fr": 1}}, "b": {"skills": {"fr": 1, "pv": 1}, "channels": {"accepts": ["voice"]}},
          "c": {"skills": {"pv": 1}, "channels": {"accepts": ["email", "chat"], "capacity": 10}},
          "d": {"skills": {"fr": 1, "pv": 1}, "channels": {"voice_interrupts": []}}}
QUEUES = {"fr": {"requirement": "fr", "escalation": [{"after_seconds": 5, "overflow": "pv"}]},
          "pv": {"requirement": "pv", "priority": 2}}
CHANNELS = ["email", "chat", "sms", "fax"]
op = st.tuples(st.integers(0, 9), st.integers(0, 3), st.integers(0, 3), st.floats(0, 4))


def check(cc: ContactCenter) -> None:
    router, voice = cc.tasks, cc.voice
    for a in router._agent_list:
        assert 0 <= a.used <= a.capacity, a.name
        assert a.used == sum(a.cost[ch] for ch in a.tasks.values()), a.name
        spec = next(s for s in cc.config.agents if s.name == a.name)
        for tid, ch in a.tasks.items():
            assert ch in spec.channels.accepts
        v = voice._agents[a.name]
        if v.state in (AgentState.OFFERED, AgentState.ON_CALL) and not spec.channels.voice:
            raise AssertionError(f"{a.name} got a call without voice in its profile")
        if v.state in (AgentState.OFFERED, AgentState.ON_CALL):   # a call never meets a chat
            blocking = [ch for ch in a.tasks.values() if ch not in spec.channels.voice_interrupts]
            assert not blocking, (a.name, blocking)
        assert v.held == (not spec.channels.voice or any(
            ch not in spec.channels.voice_interrupts for ch in a.tasks.values())), a.name
    for t in router._tasks.values():
        if t.state == OFFERED:
            assert t.task_id in t.agent.tasks
        if t.state != WAITING:
            continue
        for a in t.bucket.agents:
            cost = a.cost.get(t.channel)
            fits = cost is not None and a.capacity - a.used >= cost
            assert not (a.offerable and fits), (t.task_id, a.name)


@settings(max_examples=150, deadline=None)
@given(st.lists(op, max_size=90))
def test_random_multichannel_streams_keep_the_rules(ops: list) -> None:
    cc = ContactCenter(AcdConfig.from_dict({"agents": AGENTS, "queues": QUEUES}))
    names = list(AGENTS)
    now, n = 0.0, 0
    offered_calls: dict[str, str] = {}
    for kind, x, y, dt in ops:
        now += dt
        agent = names[x]
        tasks = sorted(cc.tasks._tasks)
        if kind == 0:
            ev = E.AgentLoggedIn(agent)
        elif kind == 1:
            ev = E.AgentPaused(agent, "p") if y < 2 else E.AgentReady(agent)
        elif kind == 2:
            n += 1
            ev = E.TaskArrived(f"t{n}", ["fr", "pv"][y % 2], CHANNELS[y], priority=x % 2)
        elif kind == 3 and tasks:
            t = cc.tasks._tasks[tasks[y % len(tasks)]]
            ev = E.TaskAccepted(t.task_id, t.agent.name) if t.agent else E.Tick()
        elif kind == 4 and tasks:
            ev = E.TaskEnded(tasks[(x + y) % len(tasks)])
        elif kind == 5 and tasks:
            t = cc.tasks._tasks[tasks[y % len(tasks)]]
            ev = E.TaskDeclined(t.task_id, t.agent.name) if t.agent else E.TaskTransferred(t.task_id, "pv")
        elif kind == 6:
            n += 1
            ev = E.CallArrived(f"c{n}", ["fr", "pv"][y % 2])
        elif kind == 7 and offered_calls:
            cid = sorted(offered_calls)[y % len(offered_calls)]
            ev = E.OfferAnswered(cid, offered_calls.pop(cid))
        elif kind == 8:
            calls = sorted(cc.voice._calls)
            ev = E.CallEnded(calls[y % len(calls)]) if calls else E.AgentLoggedOut(agent)
        else:
            ev = E.Tick()
        for act in cc.handle(ev, now):
            if isinstance(act, A.OfferCall):
                offered_calls[act.call_id] = act.agent
            elif isinstance(act, A.CancelOffer):
                offered_calls.pop(act.call_id, None)
        check(cc)
