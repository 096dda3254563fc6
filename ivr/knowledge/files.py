"""The knowledge folder on disk (adapter): the article files and their text, for `ivr check`
and the indexer (sync.py). Parsing them is the pure modules' work (checks.py)."""
from __future__ import annotations

from pathlib import Path

from ivr.dialplan.problems import Problem

from .checks import ArticleFile

# Files of the folder that are not articles: its guide for admins.
NOT_ARTICLES = frozenset({"readme.md"})


def article_paths(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*.md")
                  if p.is_file() and p.name.lower() not in NOT_ARTICLES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def read_folder(folder: Path) -> tuple[list[ArticleFile], list[Problem]]:
    """The articles' files (path, name in the folder, text) and the files that cannot be
    read. A missing folder is a problem (not an exception): the caller decides its weight."""
    if not folder.is_dir():
        return [], [Problem(str(folder), 1, 1, "the knowledge folder does not exist: create it, "
                            "or fix `knowledge.dir` in the engine settings")]
    files, problems = [], []
    for path in article_paths(folder):
        try:
            text = path.read_text(encoding="utf-8")
        except UnicodeDecodeError as exc:
            problems.append(Problem(str(path), 1, 1, f"not UTF-8 text (byte {exc.start}): save "
                                    "the file as UTF-8"))
            continue
        except OSError as exc:
            problems.append(Problem(str(path), 1, 1, f"cannot read: {exc.strerror}"))
            continue
        files.append(ArticleFile(str(path), path.relative_to(folder).as_posix(), text))
    return files, problems


def folder_signature(folder: Path) -> tuple[tuple[str, int, int], ...]:
    """What changes when an article is saved, added or removed: cheap to compare."""
    out = []
    for path in article_paths(folder) if folder.is_dir() else []:
        try:
            st = path.stat()
        except OSError:
            continue
        out.append((str(path), st.st_mtime_ns, st.st_size))
    return tuple(out)
