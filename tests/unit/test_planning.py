"""Planning (issue 17): intraday staffing, forecasts, replays — pure cores, then the real CLI
on a real SQLite CRM."""
from __future__ import annotations

import asyncio
import json
import math
from datetime import date, datetime, timedelta, timezone

import pytest
from click.testing import CliRunner

from acd.config import AcdConfig
from ivr.cli.main import main
from ivr.crm.store import open_store
from ivr.planning import forecast as fc
from ivr.planning import profiles
from ivr.planning.chart import staffing_html
from ivr.planning.intraday import Target, spread, staff_intervals
from ivr.planning.replay import (ReplayError, agent_changes, mean_patience, recorded_calls,
                                 recorded_kpis, replay, ring_estimate, total_of)
from ivr.planning.synthetic import arrivals, recorded_history

CONFIG = AcdConfig.from_dict({
    "queues": {"orders": {"requirement": "orders", "aht_seconds": 240, "wrapup_seconds": 10,
                          "service_level_seconds": 20, "service_level_target": 0.8}},
    "agents": {f"o{i}": {"skills": {"orders": 3}} for i in range(3)}})
DAY = date(2026, 10, 5)   # a Monday


# ------------------------------------------------------------------ profiles and staffing
def test_the_builtin_profile_sums_to_one_and_peaks_in_the_morning():
    window = profiles.parse_window("09:00-24:00", 30)
    shares = profiles.typical(window)
    assert len(shares) == 30 and math.isclose(sum(shares), 1.0)
    assert window.labels()[shares.index(max(shares))] == "10:00"


def test_a_profile_file_that_does_not_sum_to_one_is_refused_with_its_sum():
    window = profiles.parse_window("09:00-11:00", 30)
    with pytest.raises(profiles.ProfileError, match="sum to 0.9000, not 1"):
        profiles.from_mapping({"09:00": 0.3, "09:30": 0.3, "10:00": 0.2, "10:30": 0.1}, window, "p.yaml")
    with pytest.raises(profiles.ProfileError, match="12:00 not an interval start"):
        profiles.from_mapping({"12:00": 1.0}, window, "p.yaml")
    assert profiles.from_mapping([0.25, 0.25, 0.25, 0.25], window, "p.yaml") == [0.25] * 4


def test_bad_open_hours_are_explained():
    with pytest.raises(profiles.ProfileError, match="15-minute"):
        profiles.parse_window("09:10-12:00", 15)
    with pytest.raises(profiles.ProfileError, match="end must come after"):
        profiles.parse_window("12:00-09:00", 30)


def test_peaks_need_more_agents_than_a_flat_day_and_shrinkage_adds_seats():
    window = profiles.parse_window("09:00-24:00", 30)
    goal = Target(300.0, 20.0, 0.8, shrinkage=0.3)
    peaked = staff_intervals(spread(600, profiles.typical(window)), window.labels(), 30, goal)
    flat = staff_intervals([20.0] * 30, window.labels(), 30, goal)
    assert peaked.peak_agents > flat.peak_agents
    assert all(i.service_level >= 0.8 for i in peaked.intervals)
    assert peaked.seats == math.ceil(peaked.peak_agents / 0.7)
    assert math.isclose(peaked.paid_hours, peaked.agent_hours / 0.7)
    no_shrink = staff_intervals(spread(600, profiles.typical(window)), window.labels(), 30,
                                Target(300.0, 20.0, 0.8))
    assert no_shrink.seats == no_shrink.peak_agents < peaked.seats


def test_erlang_a_needs_no_more_agents_than_erlang_c():
    labels = ["10:00"]
    c = staff_intervals([40.0], labels, 30, Target(300.0, 20.0, 0.8))
    a = staff_intervals([40.0], labels, 30, Target(300.0, 20.0, 0.8, patience_seconds=60.0))
    assert a.peak_agents <= c.peak_agents and a.intervals[0].p_abandon > 0


def test_the_chart_is_self_contained_and_escapes_labels():
    plan = staff_intervals([3.0, 0.0], ["<b>", "10:30"], 30, Target(300.0, 20.0, 0.8))
    page = staffing_html(plan, "x <script>")
    assert "<svg" in page and "&lt;b&gt;" in page and "<script>" not in page
    import xml.etree.ElementTree as ET
    from ivr.planning.chart import staffing_svg
    svg = ET.fromstring(staffing_svg(plan))          # well-formed: browsers draw it
    bars = svg.findall("{http://www.w3.org/2000/svg}rect")
    assert len(bars) == 2 and float(bars[0].get("height")) > float(bars[1].get("height")) == 0
    assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")


# ------------------------------------------------------------------ forecast
def _history(days: int, holidays: frozenset[date] = frozenset()) -> dict[str, fc.QueueHistory]:
    calls = arrivals(DAY, days, {"orders": 300.0}, seed=5, holidays=holidays)
    slots = [(q, at.date(), (at.hour * 60 + at.minute) // 30) for q, at in calls]
    return fc.count_history(slots, DAY, DAY + timedelta(days=days - 1), 48)


def _weekly_mean(history: list[float], ahead: int) -> list[float]:
    """A simple daily model for the pure tests: each weekday's mean."""
    return [sum(history[j] for j in range(len(history)) if j % 7 == (len(history) + i) % 7)
            / len([j for j in range(len(history)) if j % 7 == (len(history) + i) % 7])
            for i in range(ahead)]


def test_forecast_beats_the_seasonal_naive_baseline_and_closes_holidays():
    grids = _history(35)
    holiday = DAY + timedelta(days=37)            # a Wednesday in the forecast week
    f = fc.forecast_queue(grids["orders"], {holiday}, 1, _weekly_mean, "weekly mean")
    assert f.error["wape"] < f.error["baseline_wape"]
    assert sum(f.days[holiday]) == 0
    sunday = DAY + timedelta(days=41)
    assert sum(f.days[sunday]) == 0                # closed on Sundays in the history
    monday = DAY + timedelta(days=35)
    assert 250 < sum(f.days[monday]) < 450         # 300 × 1.15 on Mondays


def test_a_holiday_in_the_history_does_not_drag_the_forecast_down():
    holiday = DAY + timedelta(days=23)             # a Wednesday
    with_h = fc.forecast_queue(_history(28, frozenset({holiday}))["orders"], {holiday}, 1,
                               _weekly_mean, "m")
    wednesday = DAY + timedelta(days=30)
    assert sum(with_h.days[wednesday]) > 250


def test_too_little_history_is_said_plainly():
    with pytest.raises(fc.ForecastError, match="at least two weeks"):
        fc.forecast_queue(_history(5)["orders"], set(), 1, _weekly_mean, "m")
    short = fc.forecast_queue(_history(10)["orders"], set(), 1, _weekly_mean, "m")
    assert short.method.startswith("seasonal-naive") and short.error == {}


def test_holt_winters_beats_the_baseline_on_a_synthetic_history():
    from ivr.planning import holt_winters
    f = fc.forecast_queue(_history(42)["orders"], set(), 1, holt_winters.daily_forecast, "hw")
    assert f.error["wape"] < f.error["baseline_wape"]


# ------------------------------------------------------------------ replay
def _recorded_day(per_day: float = 400.0, seed: int = 3):
    calls = arrivals(DAY, 1, {"orders": per_day}, seed=seed)
    return recorded_history(CONFIG, calls, seed=seed)


def test_the_replay_of_an_unchanged_config_reproduces_the_recorded_day():
    records = _recorded_day()
    start = min(r.started_at for r in records)
    calls = recorded_calls(records, start, CONFIG)
    recorded = total_of(recorded_kpis(calls, CONFIG))
    ring = ring_estimate(records, CONFIG)
    assert 2.0 < ring < 6.0                         # the synthetic phones ring 2-6 s
    result = replay(calls, [], CONFIG, 86400.0, ring)
    assert recorded.abandoned > 0 and recorded.service_level < 0.95   # a day with some strain
    assert abs(result.total.service_level - recorded.service_level) <= 0.03
    assert abs(result.total.abandoned - recorded.abandoned) <= max(3, 0.2 * recorded.abandoned)


def test_one_agent_less_is_worse_and_one_more_is_better():
    records = _recorded_day()
    start = min(r.started_at for r in records)
    ring = ring_estimate(records, CONFIG)
    def sl(n: int) -> float:
        config = AcdConfig.from_dict({"queues": {"orders": CONFIG.queues[0].model_dump()},
                                      "agents": {f"o{i}": {"skills": {"orders": 3}} for i in range(n)}})
        return replay(recorded_calls(records, start, config), [], config, 86400.0, ring).total.service_level
    assert sl(2) < sl(3) < sl(4)


def test_patience_is_the_censored_estimate_and_abandoned_callers_keep_theirs():
    records = _recorded_day()
    abandons = [r for r in records if r.disposition == "abandoned"]
    total_wait = sum(r.wait_seconds or 0 for r in records)
    assert math.isclose(mean_patience(records), total_wait / len(abandons))
    calls = {c.call_id: c for c in recorded_calls(records, min(r.started_at for r in records), CONFIG)}
    assert all(calls[r.call_id].patience_seconds == r.wait_seconds for r in abandons)


def test_an_unknown_queue_and_an_empty_window_are_explained():
    records = _recorded_day(60)
    other = AcdConfig.from_dict({"queues": {"sales": {}}, "agents": {"a": {"skills": {}}}})
    with pytest.raises(ReplayError, match=r"no queue orders \(\d+ calls\).*--rename"):
        recorded_calls(records, records[0].started_at, other)
    assert recorded_calls(records, records[0].started_at, other, rename={"orders": "sales"})
    with pytest.raises(ReplayError, match="no queued calls"):
        recorded_calls([], datetime(2026, 1, 1, tzinfo=timezone.utc), CONFIG)


def test_recorded_agent_sessions_limit_who_answers():
    records = _recorded_day()
    start = min(r.started_at for r in records)
    calls = recorded_calls(records, start, CONFIG)
    from ivr.crm.records import AgentEvent
    only_one = [AgentEvent("o0", start, "login"), AgentEvent("o1", start, "logout"),
                AgentEvent("o2", start, "logout")]
    alone = replay(calls, agent_changes(only_one, start), CONFIG, 86400.0)
    everyone = replay(calls, [], CONFIG, 86400.0)
    assert alone.total.service_level < everyone.total.service_level
    assert alone.agents_without_history == [] and everyone.agents_without_history == ["o0", "o1", "o2"]


# ------------------------------------------------------------------ the real CLI on a real CRM
def _invoke(*args: str):
    return CliRunner().invoke(main, list(args))


def test_cli_staffing_per_day_in_every_format(tmp_path):
    base = ["staffing", "--per-day", "600", "--open", "09:00-24:00", "--aht", "300s", "--target",
            "20s", "--service-level", "0.8", "--shrinkage", "30%"]
    out = _invoke(*base, "--format", "json", "--html", str(tmp_path / "c.html"))
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["peak_agents"] >= 7 and data["seats"] >= 10 and len(data["rows"]) == 30
    assert (tmp_path / "c.html").read_text().count("<rect") == 30
    csv_out = _invoke(*base, "--format", "csv")
    assert csv_out.output.splitlines()[0].startswith("interval,calls,agents")
    assert len(csv_out.output.splitlines()) == 31
    small = json.loads(_invoke(*base[:2], "100", *base[3:], "--format", "json").output)
    assert small["peak_agents"] <= 3 < data["peak_agents"]


def test_cli_staffing_refuses_a_bad_profile_file_with_its_sum(tmp_path):
    prof = tmp_path / "p.yaml"
    prof.write_text("'09:00': 0.5\n'09:30': 0.4\n")
    out = _invoke("staffing", "--per-day", "100", "--open", "09:00-10:00", "--aht", "300",
                  "--profile", str(prof))
    assert out.exit_code == 1 and "sum to 0.9000" in out.output


def _fill_crm(url: str, records) -> None:
    async def go():
        store = await open_store(url)
        for r in records:
            store.save_call(r)
        await store.close()
    asyncio.run(go())


def test_cli_forecast_then_staffing_from_it_on_a_real_sqlite_crm(tmp_path):
    calls = arrivals(DAY, 28, {"orders": 200.0}, seed=9)
    records = recorded_history(CONFIG, calls, seed=9)
    from ivr.crm.records import CallRecord
    young = [CallRecord(call_id=f"y{d}", started_at=datetime(2026, 10, 30 + d, 10, tzinfo=timezone.utc),
                        ended_at=datetime(2026, 10, 30 + d, 10, 5, tzinfo=timezone.utc), queue="medinfo",
                        wait_seconds=5.0, talk_seconds=200.0, disposition="answered") for d in range(2)]
    url = f"sqlite:///{tmp_path}/crm.db"
    _fill_crm(url, records + young)
    table = _invoke("forecast", "--crm", url, "--tz", "UTC")
    assert table.exit_code == 0, table.output
    assert "left out: queue medinfo: only 2 day(s)" in " ".join(table.output.split())
    out_file = tmp_path / "f.json"
    out = _invoke("forecast", "--crm", url, "--tz", "UTC", "--output", str(out_file), "--format", "json")
    assert out.exit_code == 0, out.output
    saved = json.loads(out_file.read_text())
    err = saved["queues"]["orders"]["error"]
    assert err["wape"] is not None and err["baseline_wape"] is not None
    assert len(saved["queues"]["orders"]["days"]) == 7 and "medinfo" not in saved["queues"]
    monday = str(DAY + timedelta(days=28))
    st = _invoke("staffing", "--forecast", str(out_file), "--day", monday, "--aht", "240s",
                 "--format", "json")
    assert st.exit_code == 0, st.output
    assert json.loads(st.output)["peak_agents"] >= 2
    empty = _invoke("forecast", "--crm", f"sqlite:///{tmp_path}/empty.db", "--tz", "UTC")
    assert empty.exit_code == 1 and "no queued calls" in empty.output


def test_cli_replay_compares_configs_side_by_side(tmp_path):
    records = _recorded_day()
    url = f"sqlite:///{tmp_path}/crm.db"
    _fill_crm(url, records)
    queues = tmp_path / "q.yaml"
    queues.write_text("queues:\n  orders: {requirement: orders, aht_seconds: 240, wrapup_seconds: 10}\n")
    agents = tmp_path / "a.yaml"
    agents.write_text("agents:\n" + "".join(f"  o{i}: {{skills: {{orders: 3}}}}\n" for i in range(2)))
    since = min(r.started_at for r in records).isoformat()
    out = _invoke("simulate", "--replay", "--since", since, "--queues", str(queues), "--agents",
                  str(agents), "--crm", url, "--format", "json")
    assert out.exit_code == 0, out.output
    rows = {r["queue"]: r for r in json.loads(out.output)["rows"]}
    assert rows["orders"]["offered"] == len(records)
    # two agents instead of three: the new configuration serves the recorded day worse
    assert rows["orders"]["new_sl"] < rows["orders"]["recorded_sl"]
    bad = tmp_path / "bad.yaml"
    bad.write_text("queues:\n  sales: {}\n")
    out = _invoke("simulate", "--replay", "--since", since, "--queues", str(bad), "--agents",
                  str(agents), "--crm", url)
    assert out.exit_code == 1 and "no queue orders" in out.output
    later = (datetime(2030, 1, 1, tzinfo=timezone.utc)).isoformat()
    out = _invoke("simulate", "--replay", "--since", later, "--until", "2030-01-02", "--queues",
                  str(queues), "--agents", str(agents), "--crm", url)
    assert out.exit_code == 1 and "no queued calls" in out.output


def test_cli_scenario_search_finds_a_mix_that_one_agent_less_would_miss():
    out = _invoke("staffing", "--scenario", "examples/staffing-scenario.yaml", "--format", "json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.output)
    assert data["met"] and all(q["service_level"] >= q["target"] for q in data["queues"].values())
    assert "do not hold" in data["note"]
    import yaml
    from ivr.planning.mix import _run, _shortfall
    scenario = yaml.safe_load(open("examples/staffing-scenario.yaml"))
    targets = {q: s["service_level_target"] for q, s in scenario["queues"].items()}
    for group, n in data["mix"].items():
        if n > scenario["groups"][group]["min"]:
            fewer = _run(scenario, scenario["groups"], {**data["mix"], group: n - 1})
            assert _shortfall(fewer, targets) > 0


def test_what_if_says_plainly_when_a_queue_gets_worse_than_its_target(tmp_path):
    """`ivr reload --what-if` minus the socket: the last days under the config on disk (the
    repo's: bob and dave take orders) against a running config with more order-takers."""
    import click
    from ivr.cli import whatif
    from ivr.config import load_settings
    settings = load_settings(None)
    today = datetime.now(timezone.utc).date()
    calls = arrivals(today - timedelta(days=2), 1, {"orders": 500.0}, seed=4)
    running = AcdConfig.from_dict({"queues": settings.acd_config().model_dump()["queues"],
                                   "agents": {f"o{i}": {"skills": {"orders": 3}} for i in range(6)}})
    url = f"sqlite:///{tmp_path}/crm.db"
    _fill_crm(url, recorded_history(running, calls, seed=4))
    ctx = click.Context(main, obj={})
    problems, printed = whatif.what_if(ctx, 7, settings, running, url)
    assert any("queue orders gets WORSE than its target" in p for p in problems), problems
    assert "current sl" in printed and "new sl" in printed
    same, _ = whatif.what_if(ctx, 7, settings, settings.acd_config(), url)
    assert same == []


def test_a_caller_whose_ringing_agent_logs_out_goes_back_in_line_and_may_give_up():
    from acd.replay import AgentChange, RecordedCall
    call = RecordedCall("c1", 10.0, "orders", 0, 60.0, 30.0, "abandoned", 30.0)
    one = AcdConfig.from_dict({"queues": {"orders": {"requirement": "orders"}},
                               "agents": {"o0": {"skills": {"orders": 3}}}})
    changes = [AgentChange(0.0, "o0", "login"), AgentChange(15.0, "o0", "logout")]
    outcomes: dict = {}
    result = replay([call], changes, one, 100.0, 20.0, outcomes)   # rings 20 s: cut at 15 s
    assert result.total.abandoned == 1 and outcomes["c1"][0] == "abandoned"
    assert math.isclose(outcomes["c1"][1], 30.0)
    stays = replay([call], changes[:1], one, 100.0, 20.0)          # nobody logs out: answered
    assert stays.total.answered == 1 and stays.total.abandoned == 0


def test_a_queue_opened_later_is_forecast_from_its_first_call():
    calls = [("old", DAY + timedelta(days=d), 20) for d in range(21)] + \
            [("new", DAY + timedelta(days=d), 20) for d in range(14, 21)]
    grids = fc.count_history(calls, DAY, DAY + timedelta(days=20), 48)
    assert grids["old"].first == DAY and len(grids["old"].counts) == 21
    assert grids["new"].first == DAY + timedelta(days=14) and len(grids["new"].counts) == 7
