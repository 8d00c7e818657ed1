"""Every ``docs/<file>.md`` citation in the repository points at a file and a heading that exist.

Comments and docstrings cite the reference notes as ``docs/<file>.md#<heading-anchor>``; the
notes link each other with relative markdown links. A renamed heading or file must fail here,
not leave a dangling citation. The shared documents the notes replaced are no longer cited.
Pure file reading: no Prefect, no servers.
"""

from __future__ import annotations

import re
import unicodedata
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
SKIP_DIRS = {"__pycache__", "build", "dist", "node_modules"}
CITING_SUFFIXES = {".py", ".md"}
TEXT_SUFFIXES = {".py", ".md", ".txt", ".toml", ".yaml", ".yml", ".cfg", ".ini", ".sh"}

# Spelled in pieces so that this file does not cite them itself.
RETIRED = ("PROTOCOLS" + ".md", "PREFECT-NOTES" + ".md", "signing-vectors" + ".txt")

# `docs/<file>.md#<anchor>` not preceded by a path character (so `vendor-docs/...` or another
# repository's `.../docs/...` are not taken for ours), and not `.mdx`.
CITATION = re.compile(r"(?<![\w./-])docs/((?:[\w-]+/)*[\w.-]+?\.md)\b(?!x)(?:#([\w-]+))?")
# Relative markdown links inside docs/: `[text](../signing.md#anchor)` or `[text](#anchor)`.
LINK = re.compile(r"\]\((?!https?:|mailto:)([^)\s#]*)(?:#([^)\s]+))?\)")
FENCE = re.compile(r"^\s*(```|~~~)")
HEADING = re.compile(r"^\s{0,3}(#{1,6})\s+(.*?)\s*#*\s*$")


def _files(suffixes: set[str]) -> list[Path]:
    found = []
    for path in ROOT.rglob("*"):
        relative = path.relative_to(ROOT).parts
        if any(part.startswith(".") or part in SKIP_DIRS for part in relative[:-1]):
            continue
        if path.suffix in suffixes and path.is_file() and not path.name.endswith(".egg-info"):
            found.append(path)
    return sorted(found)


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: rendered text, lower-cased, punctuation dropped."""
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", heading)  # links keep their text
    text = re.sub(r"<[^>]+>", "", text).replace("`", "").lower()
    kept = []
    for char in text:
        if char in " -_" or unicodedata.category(char)[0] in "LN":
            kept.append(char)
    return "".join(kept).replace(" ", "-")


@cache
def anchors(path: Path) -> frozenset[str]:
    """Every heading anchor of a markdown file, with GitHub's ``-1``, ``-2`` for repeats."""
    seen: dict[str, int] = {}
    out: set[str] = set()
    in_fence = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if FENCE.match(line):
            in_fence = not in_fence
            continue
        match = None if in_fence else HEADING.match(line)
        if match is None:
            continue
        base = slug(match.group(2))
        count = seen.get(base, 0)
        seen[base] = count + 1
        out.add(base if count == 0 else f"{base}-{count}")
    return frozenset(out)


def _problem(target: Path, anchor: str | None) -> str | None:
    if not target.is_file():
        return "no such file"
    if anchor and anchor not in anchors(target):
        return f"no heading #{anchor} (headings: {', '.join(sorted(anchors(target)))})"
    return None


def _citations() -> list[tuple[str, int, str, str | None]]:
    found = []
    for path in _files(CITING_SUFFIXES):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in CITATION.finditer(line):
                found.append((str(path.relative_to(ROOT)), number, match.group(1), match.group(2)))
    return found


def test_docs_folder_has_the_reference_notes():
    for name in (
        "README.md",
        "design.md",
        "signing.md",
        "prefect.md",
        "vendors/tencent-aiart.md",
        "vendors/volcengine-visual.md",
        "vendors/ailabtools.md",
    ):
        assert (DOCS / name).is_file(), name


def test_the_code_cites_the_notes():
    cited = {target for _, _, target, _ in _citations()}
    assert {"vendors/tencent-aiart.md", "vendors/volcengine-visual.md"} <= cited
    assert {"vendors/ailabtools.md", "signing.md", "prefect.md"} <= cited


def test_every_docs_citation_resolves():
    broken = []
    for where, number, target, anchor in _citations():
        problem = _problem(DOCS / target, anchor)
        if problem:
            suffix = f"#{anchor}" if anchor else ""
            broken.append(f"{where}:{number}: docs/{target}{suffix}: {problem}")
    assert not broken, "\n".join(broken)


def test_links_between_the_notes_resolve():
    broken = []
    for path in sorted(DOCS.rglob("*.md")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            for match in LINK.finditer(line):
                target, anchor = match.group(1), match.group(2)
                resolved = (path.parent / target).resolve() if target else path
                if target and not target.endswith(".md"):
                    if not resolved.exists():
                        broken.append(f"{path.relative_to(ROOT)}:{number}: {target}: missing")
                    continue
                problem = _problem(resolved, anchor)
                if problem:
                    broken.append(f"{path.relative_to(ROOT)}:{number}: {match.group(0)}: {problem}")
    assert not broken, "\n".join(broken)


def test_retired_shared_documents_are_no_longer_cited():
    stale = []
    for path in _files(TEXT_SUFFIXES):
        text = path.read_text(encoding="utf-8", errors="replace")
        for name in RETIRED:
            if name in text:
                stale.append(f"{path.relative_to(ROOT)}: {name}")
    assert not stale, "cite docs/ instead:\n" + "\n".join(stale)


@pytest.mark.parametrize(
    ("heading", "anchor"),
    [
        ("Limits", "limits"),
        ("Tencent aiart: `ImageInpaintingRemoval`", "tencent-aiart-imageinpaintingremoval"),
        ("Errors at HTTP 200", "errors-at-http-200"),
        ("Retry conditions in async tasks", "retry-conditions-in-async-tasks"),
        ("Where the documents disagree", "where-the-documents-disagree"),
        ("A [link](https://example.com) and_snake", "a-link-and_snake"),
        ("Volcengine SignerV4 (HMAC-SHA256)", "volcengine-signerv4-hmac-sha256"),
    ],
)
def test_slug_matches_github(heading, anchor):
    assert slug(heading) == anchor
