"""What the docs point to is in the repository: every path docs/architecture.md and README.md name
exists, and no file cites a design document the repository does not hold: a rule is stated where
it is used, or in docs/architecture.md, which the code points to."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ARCHITECTURE = ROOT / "docs" / "architecture.md"

# A path into the repository's own folders, as the docs write them (`app/db.py`, app/demo/,
# `app/services/batch*.py`); a path inside a longer one (`tests/api/...` after a `/`) is skipped.
PATH = re.compile(r"(?<![\w/.-])((?:app|tests|migrations|bench|docs|openapi)/[\w./*-]*[\w*/])")
# "DESIGN §13", "DESIGN's lifecycle", "(DESIGN: API conventions)"; not DESIGNATION.
CITATION = re.compile(r"\bDESIGN\b(?:\s*§|'s|:)")
SEARCHED = ("app", "bench", "docs", "migrations", "openapi", "tests")
SUFFIXES = {".py", ".md", ".json", ".yaml", ".toml", ".sh", ".txt", ".ini"}


def named_paths(text: str) -> set[str]:
    return set(PATH.findall(text))


def test_the_pattern_reads_paths_as_the_docs_write_them() -> None:
    text = "`app/db.py` (`read_apart`), app/demo/, `app/services/batch*.py`; see x/app/y.py."
    assert named_paths(text) == {"app/db.py", "app/demo/", "app/services/batch*.py"}


def test_every_path_the_architecture_names_exists() -> None:
    names = named_paths(ARCHITECTURE.read_text(encoding="utf-8"))
    assert len(names) > 100  # the pattern still finds what the file names
    missing = sorted(name for name in names if not _exists(name))
    assert missing == []


def test_every_path_the_readme_names_exists() -> None:
    names = named_paths((ROOT / "README.md").read_text(encoding="utf-8"))
    assert len(names) > 5
    missing = sorted(name for name in names if not _exists(name))
    assert missing == []


def _exists(name: str) -> bool:
    return any(ROOT.glob(name)) if "*" in name else (ROOT / name).exists()


def test_the_citation_pattern() -> None:
    assert CITATION.search("Integrity flags (DESIGN §14)")
    assert CITATION.search("DESIGN's lifecycle")
    assert not CITATION.search('DESIGNATION = "环气候函〔2022〕50号"')


def test_no_file_cites_an_absent_design_document() -> None:
    files = [ROOT / "README.md"] + [
        path
        for folder in SEARCHED
        for path in (ROOT / folder).rglob("*")
        if path.suffix in SUFFIXES and path.is_file() and path != Path(__file__).resolve()
    ]
    citing = [
        f"{path.relative_to(ROOT)}:{number}"
        for path in files
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if CITATION.search(line)
    ]
    assert citing == []
