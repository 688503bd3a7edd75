"""The README's layering, read from every module's imports: arrows only point down.

bot/ → storage/ → generator/: generator/ imports neither bot/ nor storage/ (it can be lifted out and
used alone), storage/ never imports bot/, and no shipped module imports tests/. Imports inside
functions and `if TYPE_CHECKING:` blocks count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
#: Top-level folders of shipped code whose imports are checked. (bench/ is left out: its load and
#: viseme benchmarks drive the test harnesses in tests/load and tests/e2e on purpose.)
CODE = ("bot", "storage", "generator", "migrations", "playground")
#: Packages each layer must never import.
FORBIDDEN = {
    "generator": {"bot", "storage", "playground", "migrations", "tests"},
    "storage": {"bot", "playground", "tests"},
    "migrations": {"bot", "playground", "tests"},
    "bot": {"playground", "tests"},
    "playground": {"tests"},
}


def imported_packages(path: Path) -> set[str]:
    """The top-level package of every import in one file, relative imports resolved."""
    package = path.relative_to(REPO).parts[:-1]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                found.add(base[0] if base else (node.module or "").split(".")[0])
            elif node.module:
                found.add(node.module.split(".")[0])
    return found


def modules(top: str) -> list[Path]:
    return sorted((REPO / top).rglob("*.py"))


def test_every_layer_has_modules_and_the_parser_sees_their_imports() -> None:
    # Guards the rule below against passing on nothing: the known downward arrows are seen.
    assert all(modules(top) for top in CODE)
    seen = {top: set().union(*(imported_packages(p) for p in modules(top))) for top in CODE}
    assert "storage" in seen["bot"] and "generator" in seen["bot"]
    assert "generator" in seen["storage"] or "sqlalchemy" in seen["storage"]


@pytest.mark.parametrize(
    "path", [pytest.param(p, id=str(p.relative_to(REPO))) for top in CODE for p in modules(top)]
)
def test_imports_only_point_down(path: Path) -> None:
    top = path.relative_to(REPO).parts[0]
    wrong = imported_packages(path) & FORBIDDEN[top]
    assert not wrong, f"{path.relative_to(REPO)} imports {sorted(wrong)}: {top}/ must not"


#: bot/'s handler modules (one callback per user action); helpers they share live in other modules.
HANDLERS = ("conversation", "scenes", "commands", "admin", "payments")


def bot_modules_imported(path: Path) -> set[str]:
    """The bot modules one file imports (`from bot import x`, `from bot.x import …`, `import bot.x`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module == "bot":
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("bot."):
            found.add((node.module or "").split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("bot."))
    return found


@pytest.mark.parametrize("handler", HANDLERS)
def test_a_handler_module_imports_no_other_handler_module(handler: str) -> None:
    imported = bot_modules_imported(REPO / "bot" / f"{handler}.py")
    assert imported, "the parser saw no bot import at all"
    wrong = imported & set(HANDLERS) - {handler}
    assert not wrong, f"bot/{handler}.py imports the handler modules {sorted(wrong)}"
