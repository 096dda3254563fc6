"""`ivr staffing` reproduces published Erlang C figures; `ivr simulate` runs the real ACD."""
import json

from click.testing import CliRunner

from ivr.cli.main import main


def run(*args: str) -> dict:
    result = CliRunner().invoke(main, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_staffing_reproduces_the_published_erlang_c_check():
    out = run("staffing", "--calls", "100", "--period", "30m", "--aht", "180s", "--agents", "14",
              "--target", "20s", "--format", "json")
    assert out == {"agents": 14, "traffic_erlangs": 10.0, "p_wait": 0.1741, "service_level": 0.8884,
                   "asa_seconds": 7.84, "occupancy": 0.7143}


def test_staffing_finds_agents_for_a_service_level_and_uses_erlang_a_with_patience():
    out = run("staffing", "--calls", "100", "--period", "0.5h", "--aht", "3m",
              "--service-level", "0.8", "--format", "json")
    assert out["agents"] == 14 and out["service_level"] >= 0.8     # 13 give 0.79
    patient = run("staffing", "--calls", "100", "--aht", "180", "--agents", "12",
                  "--patience", "5m", "--format", "json")
    assert 0 < patient["p_abandon"] < 0.1


def test_staffing_refuses_unclear_questions():
    result = CliRunner().invoke(main, ["staffing", "--calls", "100", "--aht", "3x", "--agents", "2"])
    assert result.exit_code != 0 and "not a duration" in result.output
    result = CliRunner().invoke(main, ["staffing", "--calls", "100", "--aht", "180"])
    assert result.exit_code != 0 and "--agents N or --service-level" in result.output


def test_simulate_runs_a_scenario_on_the_configured_queues(tmp_path):
    scenario = tmp_path / "s.yaml"
    scenario.write_text("seed: 3\ncalls: 400\ntraffic:\n  orders: {calls_per_hour: 20, aht_seconds: 120}\n")
    out = run("simulate", str(scenario), "--format", "json")
    assert out["queues"]["orders"]["offered"] >= 390
    again = run("simulate", str(scenario), "--format", "json")
    assert out["queues"] == again["queues"] and out["events"] == again["events"]  # seeded
