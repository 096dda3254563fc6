import pytest

from acd.skills import SkillExpressionError, combine, compile_requirement


@pytest.mark.parametrize("expr,skills,expected", [
    ("pv >= 3 and fr", {"pv": 3, "fr": 1}, True),
    ("pv >= 3 and fr", {"pv": 2, "fr": 5}, False),
    ("pv >= 3 and fr", {"pv": 5}, False),
    ("(orders or medinfo) and not en", {"medinfo": 2}, True),
    ("(orders or medinfo) and not en", {"medinfo": 2, "en": 1}, False),
    ("orders or medinfo and not en", {"orders": 1, "en": 4}, True),  # and binds tighter
    ("not not fr", {"fr": 1}, True),
    ("fr < 3", {}, True),
    ("fr == 2 or en != 0", {"fr": 2}, True),
    ("fr > 2", {"fr": 2}, False),
    ("", {}, True),
    ("any", {}, True),
])
def test_evaluate(expr: str, skills: dict[str, int], expected: bool) -> None:
    assert compile_requirement(expr).match(skills) is expected


@pytest.mark.parametrize("expr,pos,fragment", [
    ("pv >=", 5, "skill level"),
    ("pv and", 6, "skill name"),
    ("(fr", 3, "')'"),
    ("fr $ en", 3, "unexpected character"),
    ("pv >= 9", 3, "outside 0-5"),
    ("fr en", 3, "unexpected 'en'"),
    ("fr )", 3, "unexpected ')'"),
    ("__import__('os')", 11, "unexpected character"),
])
def test_errors_have_position_and_reason(expr: str, pos: int, fragment: str) -> None:
    with pytest.raises(SkillExpressionError) as ei:
        compile_requirement(expr)
    assert ei.value.position == pos
    assert fragment in str(ei.value)


def test_necessary_skills_narrow_index_lookups() -> None:
    assert compile_requirement("pv >= 3 and fr").necessary in ({"pv"}, {"fr"})
    assert compile_requirement("orders or medinfo").necessary == {"orders", "medinfo"}
    assert compile_requirement("not en").necessary is None
    assert compile_requirement("fr or not en").necessary is None
    assert compile_requirement("fr < 3").necessary is None


def test_score_sums_named_skills() -> None:
    r = compile_requirement("pv >= 1 and (fr or en)")
    assert r.score({"pv": 4, "fr": 2, "orders": 5}) == 6


def test_combine() -> None:
    assert combine("a", None) == "a"
    assert combine("", "b") == "b"
    assert compile_requirement(combine("a or b", "c")).match({"a": 1}) is False
