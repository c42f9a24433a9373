"""Docs that cannot drift: every relative link of the README and docs/ leads to a file of the
tree, and every #anchor to a heading of its page (GitHub's slugs); the swarm recipe is written
once; the figures the README quotes are the committed runs' own."""

import re
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
DOCS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
LINK = re.compile(r"(?<!!)\[[^\]]*\]\(([^)\s]+)\)|!\[[^\]]*\]\(([^)\s]+)\)")


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes."""
    text = re.sub(r"[`*_]", "", heading.strip().lower())
    return re.sub(r"[^\w\- ]", "", text).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    text = re.sub(r"```.*?```", "", page.read_text(), flags=re.S)
    return {slug(m.group(1)) for m in re.finditer(r"^#+\s+(.+)$", text, re.M)}


@pytest.mark.parametrize("doc", DOCS, ids=lambda p: p.name)
def test_every_relative_link_and_anchor_resolves(doc: Path) -> None:
    text = re.sub(r"```.*?```", "", doc.read_text(), flags=re.S)
    broken = []
    for match in LINK.finditer(text):
        target = match.group(1) or match.group(2)
        if re.match(r"[a-z]+:", target):
            continue  # https:, mailto: — not the tree's
        path, _, anchor = target.partition("#")
        page = (doc.parent / path).resolve() if path else doc
        if not page.exists():
            broken.append(f"{target}: no such file")
        elif anchor and page.suffix == ".md" and anchor not in anchors(page):
            broken.append(f"{target}: no heading #{anchor}")
    assert not broken, broken


def test_the_swarm_recipe_is_written_once() -> None:
    found = [doc.name for doc in DOCS if "docker swarm join --token" in doc.read_text()]
    assert len(found) == 1, found


def test_the_readmes_headline_figures_are_the_committed_runs() -> None:
    # the headline's throughputs and the service's are read from the runs the README cites
    readme = (REPO / "README.md").read_text()
    ladder = pd.read_csv(REPO / "results" / "reference-ladder" / "summary.csv").set_index("stage")
    steps = ladder[ladder["kind"] == "ladder"] if "kind" in ladder else ladder[~ladder.index.str.contains(r"\.")]
    # the case study's first and last stage, and the last rung beyond it
    assert f"{steps['rps'].iloc[0]:,.1f} to {steps['rps'].iloc[5]:,.1f} req/s" in readme
    assert f"{steps['rps'].iloc[-1]:,.0f} req/s" in readme
    service = pd.read_csv(REPO / "results" / "reference-service" / "summary.csv").set_index("stage")
    assert f"{service.loc['before', 'rps']:,.0f} → {service.loc['after', 'rps']:,.0f} req/s" in readme
