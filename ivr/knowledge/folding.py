"""Text folding and tokenising for the knowledge base's full-text search (pure).

The same function runs when an article is indexed and when a query is searched, so both
sides always agree, whichever database does the matching (SQLite FTS5 or PostgreSQL text
search): the database only ever sees space-separated, already folded tokens.

- Case and diacritics are folded here, not by the database: FTS5's `remove_diacritics` and
  PostgreSQL's `unaccent` extension differ (and unaccent needs a superuser to install), and
  agents type "pharmacovigilance", "effet indesirable" or "EFFET INDÉSIRABLE" alike.
- Chinese (and Japanese) is written without spaces, and neither database segments it: a
  whole run of Han characters would become one token that no query matches. A dictionary
  segmenter (jieba…) is heavy and guesses; overlapping character bigrams are the classic
  dictionary-free answer (as Lucene's CJK analyzer does): "不良反应" indexes as 不良 良反 反应
  plus each single character. A query of two or more characters looks for its bigrams (all
  must be there: a phrase-like match); a single-character query looks for the character.
"""
from __future__ import annotations

import re
import unicodedata

# Letters NFKD does not decompose into a base letter + accent (ligatures, stroked letters).
_SPECIAL = str.maketrans({"œ": "oe", "æ": "ae", "ø": "o", "ł": "l", "đ": "d", "ð": "d",
                          "þ": "th", "ı": "i", "ŀ": "l"})

# Scripts written without spaces between words: Han (CJK ideographs and their extensions),
# Hiragana, Katakana. Hangul is written with spaces: it is tokenised like Latin text.
_CJK = (r"\u2e80-\u2fdf\u3005\u3007\u3021-\u3029\u3038-\u303b\u3040-\u30ff\u31f0-\u31ff"
        r"\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f")
_TOKEN = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_CJK_RUN = re.compile(rf"[{_CJK}]+")

# Words too common to tell articles apart (English and French). Dropped from queries only
# (never from the index), and only when the query has other words: PostgreSQL's ts_rank has
# no inverse document frequency, so "the" would otherwise weigh as much as "dosage".
STOP_WORDS = frozenset("""
a an and are as at be but by can do does for from has have how i if in is it its me my no
not of on or our please so that the their there this to was what when where which who why
will with you your hello yes hi
au aux avec ce ces cette dans de des du elle en est et il ils je la le les leur ma mais me
mes mon ne nous on ou par pas pour qu que qui sa se ses son sur ta te tes toi ton tu un une
vos votre vous y bonjour oui c d j l m n s t
""".split())


def fold(text: str) -> str:
    """Lower case, no diacritics, ligatures spelt out: 'Œdème DÉCLARÉ' -> 'oedeme declare'."""
    # NFKD first too: compatibility letters (fullwidth Ａ, mathematical 𝕬) become plain ones
    # before the case is folded
    lowered = unicodedata.normalize("NFKD", text).casefold().translate(_SPECIAL)
    decomposed = unicodedata.normalize("NFKD", lowered)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def is_cjk(token: str) -> bool:
    return bool(_CJK_RUN.fullmatch(token))


def _words(text: str) -> list[str]:
    return _TOKEN.findall(fold(text))


def _bigrams(run: str) -> list[str]:
    return [run[i:i + 2] for i in range(len(run) - 1)]


def index_tokens(text: str) -> list[str]:
    """The tokens stored for `text`: folded words; CJK runs as bigrams and single characters."""
    out: list[str] = []
    for word in _words(text):
        if is_cjk(word):
            out += _bigrams(word) + list(word)
        else:
            out.append(word)
    return out


def query_tokens(text: str) -> list[str]:
    """The tokens to look for, in order, without repeats: folded words (stop words dropped
    when others remain); a CJK run of two or more characters as its bigrams, of one as itself."""
    out: list[str] = []
    for word in _words(text):
        out += _bigrams(word) if is_cjk(word) and len(word) > 1 else [word]
    unique = list(dict.fromkeys(out))
    meaningful = [t for t in unique if t not in STOP_WORDS]
    return meaningful or unique


def index_text(text: str) -> str:
    """What the database indexes for `text`: its index tokens separated by spaces."""
    return " ".join(index_tokens(text))
