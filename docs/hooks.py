"""MkDocs hooks: add the pages generated from the code (docs/gen_pages.py) and fill the nav.

The nav of mkdocs.yml has two sections left empty on purpose, filled here at every build so that
nothing is forgotten: "Indices" (one page per index of the registry) and "Decisions" (every
docs/decisions/*.md). docs/performance.md joins "Project" when it exists.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
for path in (ROOT / "src", HERE):
    if str(path) not in sys.path:
        sys.path.insert(0, str(path))

import gen_pages  # noqa: E402


def _title(path: Path) -> str:
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# "):
            return line[2:].strip()
    return path.stem.replace("-", " ").capitalize()


def _fill(nav: list[Any], title: str, entries: list[Any]) -> bool:
    for item in nav:
        if isinstance(item, dict):
            for key, value in item.items():
                if key == title and value == []:
                    item[key] = entries
                    return True
                if isinstance(value, list) and _fill(value, title, entries):
                    return True
    return False


def on_config(config: Any) -> Any:
    nav = config["nav"]
    names = list(gen_pages.registry())
    indices = [{"Overview": "reference/indices/index.md"}] + [{n: f"reference/indices/{n}.md"} for n in names]
    if not _fill(nav, "Indices", indices):
        raise RuntimeError("mkdocs.yml nav needs an empty 'Indices' section")
    decisions = [{_title(p): f"decisions/{p.name}"} for p in sorted((HERE / "decisions").glob("*.md"))]
    if not _fill(nav, "Decisions", decisions):
        raise RuntimeError("mkdocs.yml nav needs an empty 'Decisions' section")
    for item in nav:
        if isinstance(item, dict) and "Reference" in item:
            item["Reference"].append({"Python API: index modules": "reference/python-indices.md"})
    return config


def _listed(nav: Any) -> set[str]:
    if isinstance(nav, str):
        return {nav}
    if isinstance(nav, dict):
        return set().union(*(_listed(v) for v in nav.values()))
    if isinstance(nav, list):
        return set().union(*(_listed(v) for v in nav)) if nav else set()
    return set()


def on_files(files: Any, config: Any) -> Any:
    """Add the generated pages; list under "Concepts" any page that the nav does not name.

    Other work adds pages to docs/ (performance.md, kinetics.md, …): they join the site at once
    instead of failing the strict build as pages left out of the nav.
    """
    from mkdocs.structure.files import File

    for rel, write in gen_pages.pages().items():
        files.append(File.generated(config, rel, content=write()))
    listed = _listed(config["nav"])
    extra = sorted(f.src_uri for f in files.documentation_pages() if f.src_uri not in listed)
    for item in config["nav"]:
        if isinstance(item, dict) and "Concepts" in item:
            item["Concepts"] += [{_title(HERE / uri): uri} for uri in extra if (HERE / uri).exists()]
    return files
