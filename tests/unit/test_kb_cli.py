"""`ivr check` and `ivr kb` through the real command line (a subprocess on a copied site)."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """A copy of the project's installation (settings, dialplans, Asterisk files and the demo
    knowledge base); its CRM is its own var/crm.db."""
    site = tmp_path / "site"
    for part in ("config", "dialplans", "asterisk", "knowledge"):
        shutil.copytree(ROOT / part, site / part)
    return site


def ivr(site: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("IVR_")} | {"COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "ivr", "--config", str(site / "config/engine.yaml"), *args],
                          capture_output=True, text=True, timeout=120, env=env, cwd=site.parent)


def test_check_points_at_the_broken_articles_line(site: Path) -> None:
    bad = site / "knowledge/dolorex-storage.en.md"
    bad.write_text(bad.read_text().replace("intents: [product-info]", "intents: [product-info, refund]"))
    res = ivr(site, "check")
    assert res.returncode == 1 and "1 problem(s)" in res.stderr
    assert (f"{bad}:6:25: intent 'refund' is not an intent of the dialplan: known intents are "
            "adverse-event, callback, complaint") in res.stdout
    assert f"checking knowledge {site / 'knowledge'}" in res.stderr


def test_index_search_without_accents_and_in_chinese_then_show(site: Path) -> None:
    res = ivr(site, "kb", "index")
    assert res.returncode == 0, res.stderr
    assert res.stdout.strip() == "21 article(s) indexed: 21 added, 0 updated, 0 removed, 0 unchanged"
    assert (site / "var/crm.db").exists()

    res = ivr(site, "kb", "search", "reclamation qualite", "--format", "json")
    assert res.returncode == 0, res.stderr
    hits = json.loads(res.stdout)
    assert hits[0]["id"] == "quality-complaint.fr" and hits[0]["title"].startswith("Réclamation qualité")

    res = ivr(site, "kb", "search", "药物警戒", "--format", "json")
    assert [h["id"] for h in json.loads(res.stdout)][:1] == ["adverse-event-report.zh"]

    res = ivr(site, "kb", "search", "storage", "--product", "dolorex", "--language", "en", "--format", "csv")
    assert res.stdout.splitlines()[0] == "id,title,product,language,tags,score,summary"
    assert [line.split(",")[0] for line in res.stdout.splitlines()[1:]] == ["dolorex-storage.en"]

    res = ivr(site, "kb", "search", "posologie")
    assert res.returncode == 0 and "dolorex-dosage.fr" in res.stdout        # the table

    res = ivr(site, "kb", "show", "dolorex-storage.zh")
    assert res.returncode == 0 and "如何储存 Dolorex 片剂" in res.stdout and "language: zh" in res.stdout
    shown = json.loads(ivr(site, "kb", "show", "dolorex-storage.en", "--format", "json").stdout)
    assert shown["product"] == "dolorex" and "<strong>below 25 °C</strong>" in shown["html"]


def test_a_broken_article_is_reported_by_index_and_the_others_are_indexed(site: Path) -> None:
    assert ivr(site, "kb", "index").returncode == 0
    bad = site / "knowledge/availability.en.md"
    bad.write_text(bad.read_text().replace("---\n", "", 1))
    res = ivr(site, "kb", "index", "--format", "json")
    assert res.returncode == 1 and "1 problem(s)" in res.stderr
    assert f"{bad}:1:1: no front matter" in res.stderr
    report = json.loads(res.stdout)
    assert report["kept_last_good"] == ["availability.en"] and report["total"] == 21
    res = ivr(site, "kb", "search", "shortage", "--format", "json")
    assert [h["id"] for h in json.loads(res.stdout)] == ["availability.en"]     # its last good version


def test_user_errors_exit_1_with_what_to_do(site: Path) -> None:
    res = ivr(site, "kb", "show", "nope")
    assert res.returncode == 1 and "no article 'nope'" in res.stderr
    res = ivr(site, "kb", "index", "--dir", str(site / "missing"))
    assert res.returncode == 1 and "does not exist" in res.stderr
    res = ivr(site, "kb", "search", "x", "--language", "de")
    assert res.returncode == 1 and "'de' is not one of 'fr', 'en', 'zh'" in res.stderr
