"""Folding and tokenising for the knowledge base's search: one pure function on both sides."""
from __future__ import annotations

from hypothesis import given, strategies as st

from ivr.knowledge.folding import STOP_WORDS, fold, index_text, index_tokens, query_tokens


def test_case_and_diacritics_fold_away() -> None:
    assert fold("Pharmacovigilance") == fold("PHARMACOVIGILANCE") == "pharmacovigilance"
    assert fold("Effet INDÉSIRABLE déclaré") == "effet indesirable declare"
    assert fold("ça, garçon, naïve, Ångström") == "ca, garcon, naive, angstrom"
    assert fold("Œdème, cæcum, Straße, Øresund, Łódź") == "oedeme, caecum, strasse, oresund, lodz"
    assert fold("ＡＢＣ 𝕬") == "abc a"


def test_accented_and_plain_spellings_give_the_same_tokens() -> None:
    assert index_tokens("Réclamation qualité, numéro de lot") == \
        index_tokens("reclamation QUALITE, numero de lot") == \
        ["reclamation", "qualite", "numero", "de", "lot"]


def test_chinese_is_indexed_as_bigrams_and_single_characters() -> None:
    assert index_tokens("不良反应") == ["不良", "良反", "反应", "不", "良", "反", "应"]
    # mixed scripts: the Latin words stay words, the Han run is cut into bigrams
    assert index_tokens("Dolorex的批号") == ["dolorex", "的批", "批号", "的", "批", "号"]
    assert index_text("批号 500mg") == "批号 批 号 500mg"


def test_a_chinese_query_looks_for_its_bigrams_or_its_single_character() -> None:
    assert query_tokens("不良反应") == ["不良", "良反", "反应"]
    assert query_tokens("药") == ["药"]
    assert query_tokens("报告 不良") == ["报告", "不良"]


def test_punctuation_splits_words_and_repeats_are_dropped() -> None:
    assert query_tokens("side-effect, side effect!") == ["side", "effect"]
    assert query_tokens("l'effet d'un médicament") == ["effet", "medicament"]


def test_stop_words_leave_queries_unless_nothing_else_remains() -> None:
    assert query_tokens("what is the dosage of Dolorex") == ["dosage", "dolorex"]
    assert query_tokens("quelle est la posologie du Dolorex") == ["quelle", "posologie", "dolorex"]
    assert query_tokens("the") == ["the"]
    assert "the" in index_tokens("the dosage")         # the index keeps every word
    assert {"the", "le", "de"} <= STOP_WORDS


# Any text: whatever a query built from it looks for, its index holds (so an article is
# always found by its own words, accents or not, in any script).
@given(st.text(alphabet=st.sampled_from("abcéèçÉÀœ 不良反应药品-,.'ＡＢ"), max_size=40))
def test_every_query_token_of_a_text_is_in_its_index(text: str) -> None:
    assert set(query_tokens(text)) <= set(index_tokens(text))
    assert set(query_tokens(fold(text))) <= set(index_tokens(text))


@given(st.text(max_size=60))
def test_tokens_are_folded_and_hold_no_spaces_or_quotes(text: str) -> None:
    for token in index_tokens(text) + query_tokens(text):
        assert token and token == fold(token)
        assert not any(c.isspace() or c in "\"'&|!():*" for c in token)
