"""The `desk:` settings: defaults, TLS both-or-neither, pause reasons from config."""
from __future__ import annotations

from pathlib import Path

import pytest

from ivr.config import ConfigError, Settings, load_settings

PROJECT = Path(__file__).resolve().parents[2]


def test_defaults_are_loopback_without_tls_and_five_pause_reasons():
    desk = Settings().desk
    assert (desk.host, desk.port, desk.tls_cert, desk.tls_key) == ("127.0.0.1", 8480, None, None)
    assert [r.code for r in desk.pause_reasons] == ["break", "lunch", "training", "meeting", "back_office"]


def test_the_shipped_engine_yaml_has_a_valid_desk_section():
    desk = load_settings(PROJECT / "config/engine.yaml").desk
    assert desk.port == 8480 and desk.pause_reasons[1].label_fr == "Déjeuner"


@pytest.mark.parametrize("desk", [{"tls_cert": "cert.pem"}, {"tls_key": "key.pem"}])
def test_tls_needs_both_the_certificate_and_the_key(tmp_path: Path, desk: dict):
    path = tmp_path / "engine.yaml"
    path.write_text("desk:\n" + "".join(f"  {k}: {v}\n" for k, v in desk.items()))
    with pytest.raises(ConfigError, match="set both tls_cert and tls_key"):
        load_settings(path)


def test_a_pause_reason_needs_a_plain_code_and_both_labels(tmp_path: Path):
    path = tmp_path / "engine.yaml"
    path.write_text("desk:\n  pause_reasons:\n    - {code: 'Coffee Break', label_fr: Café}\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    assert "code" in str(caught.value) and "label_en" in str(caught.value)
