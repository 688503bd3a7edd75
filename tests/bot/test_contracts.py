"""docs/contracts.md stays true: every call it lists exists, with those parameters and that return type."""

from __future__ import annotations

import importlib
import inspect
import re
from pathlib import Path
from typing import Any

import pytest

DOC = Path(__file__).resolve().parents[2] / "docs" / "contracts.md"

#: How the page names things: the module or class each leading name stands for.
ALIASES = {
    "users": "storage.users",
    "media": "storage.media",
    "quotas": "storage.quotas",
    "scenes": "storage.scenes",
    "retention": "storage.retention",
    "queue": "storage:JobQueue",
    "db": "storage:Database",
    "Database": "storage:Database",
    "JobQueue": "storage:JobQueue",
    "QuotaPolicy": "storage:QuotaPolicy",
    "Worker": "storage:Worker",
    "analyze": "generator:analyze",
    "render": "generator:render",
    "RenderRequest": "generator:RenderRequest",
    "AudioTrack": "generator:AudioTrack",
    "PhonemeSpan": "generator:PhonemeSpan",
    "ImageAnalysis": "generator:ImageAnalysis",
    "load_image": "generator.intake:load_image",
    "render_job": "bot.request:render_job",
    "track_from": "bot.request:track_from",
    "RenderJob": "bot.request:RenderJob",
}
CALL = re.compile(r"^(?:await\s+)?(?:\w+\s*=\s*)?([A-Za-z_][\w.]*)\((.*?)\)\s*(?:->\s*(.+?))?\s*(?:#.*)?$")


def python_lines() -> list[str]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def resolve(dotted: str) -> tuple[Any, bool]:
    """The object a dotted name on the page means, and whether it is reached through an instance."""
    head, *rest = dotted.split(".")
    target = ALIASES[head]
    module, _, attr = target.partition(":")
    obj: Any = importlib.import_module(module)
    if attr:
        obj = getattr(obj, attr)
    bound = head in ("queue", "db") and bool(rest)
    for part in rest:
        obj = getattr(obj, part)
    return obj, bound


def calls() -> list[str]:
    return [line for line in python_lines() if CALL.match(line) and not line.startswith(("from ", "async "))]


def test_the_page_lists_calls_to_check() -> None:
    assert len(calls()) > 40


@pytest.mark.parametrize("line", [line for line in python_lines() if line.startswith("from ")])
def test_every_imported_name_exists(line: str) -> None:
    module, names = re.match(r"from ([\w.]+) import (.+)", line).groups()  # type: ignore[union-attr]
    imported = importlib.import_module(module)
    for name in names.split(","):
        assert hasattr(imported, name.strip()), f"{module}.{name.strip()}"


@pytest.mark.parametrize("line", calls())
def test_every_call_matches_the_code(line: str) -> None:
    match = CALL.match(line)
    assert match is not None
    name, arguments, returns = match.groups()
    target, bound = resolve(name)
    signature = inspect.signature(target)
    params = list(signature.parameters.values())
    if bound:
        params = params[1:]  # self
    by_name = {p.name: p for p in params}
    takes_any = any(p.kind is p.VAR_KEYWORD for p in params)
    positional = [p for p in params if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    given = [part.strip() for part in arguments.split(",") if part.strip()] if arguments.strip() else []
    index = 0
    for part in given:
        if "=" in part:
            keyword = part.split("=", 1)[0].strip()
            assert keyword in by_name or takes_any, f"{name}: no parameter {keyword!r} ({signature})"
        else:
            assert index < len(positional), f"{name}: too many positional arguments ({signature})"
            assert part == positional[index].name, f"{name}: argument {index} is {positional[index].name!r}"
            index += 1
    if returns and not inspect.isclass(target):
        actual = signature.return_annotation
        shown = actual if isinstance(actual, str) else inspect.formatannotation(actual)
        assert " ".join(returns.split()) == shown, f"{name} returns {shown}, the page says {returns}"
