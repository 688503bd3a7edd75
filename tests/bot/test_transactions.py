"""bot/ holds a write transaction only for storage's own work: no Telegram call, TTS or sleep inside.

A write transaction on SQLite is the database's one write lock (and on PostgreSQL it holds row
locks); a Telegram call inside it would make every other replica and worker wait on the network.
Read from every module's syntax: inside each `async with ….db.session()` block, every awaited call
is a storage use case (a name imported from `storage`) or a method of the session itself.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[2] / "bot"


def storage_names(tree: ast.Module) -> set[str]:
    """Names the module binds from the storage package (`from storage import users, media …`)."""
    return {
        alias.asname or alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "storage"
        for alias in node.names
    }


def write_blocks(tree: ast.Module) -> list[ast.AsyncWith]:
    """Every `async with` that opens a write session (`db.session()`, not `db.read_session()`)."""
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.AsyncWith)
        and any(ast.unparse(item.context_expr).endswith("db.session()") for item in node.items)
    ]


def foreign_awaits(block: ast.AsyncWith, allowed: set[str]) -> list[str]:
    """The awaited calls in a block that are neither storage use cases nor session methods."""
    sessions = {item.optional_vars.id for item in block.items if isinstance(item.optional_vars, ast.Name)}
    found = []
    for node in ast.walk(block):
        if isinstance(node, ast.Await) and isinstance(node.value, ast.Call):
            root = node.value.func
            while isinstance(root, ast.Attribute):
                root = root.value
            if not (isinstance(root, ast.Name) and root.id in allowed | sessions):
                found.append(f"line {node.lineno}: {ast.unparse(node.value)[:80]}")
    return found


def test_the_rule_sees_the_write_transactions_bot_opens() -> None:
    blocks = [b for p in BOT.glob("*.py") for b in write_blocks(ast.parse(p.read_text()))]
    assert len(blocks) >= 10  # so the rule below cannot pass by finding nothing


@pytest.mark.parametrize("path", sorted(BOT.glob("*.py")), ids=lambda p: p.name)
def test_no_telegram_call_is_made_while_a_write_transaction_is_open(path: Path) -> None:
    tree = ast.parse(path.read_text())
    allowed = storage_names(tree)
    wrong = [line for block in write_blocks(tree) for line in foreign_awaits(block, allowed)]
    assert not wrong, f"{path.name} awaits outside storage inside a write transaction: {wrong}"


@pytest.mark.parametrize("path", sorted(BOT.glob("*.py")), ids=lambda p: p.name)
def test_a_write_session_is_only_opened_to_write_reads_use_the_read_session(path: Path) -> None:
    # `db.session()` opens on the writer (SQLite: its one write lock once used); a plain read
    # belongs on `db.read_session()`, so every write session comes with its explicit transaction.
    lone = [
        block.lineno
        for block in write_blocks(ast.parse(path.read_text()))
        if not any(ast.unparse(item.context_expr).endswith(".begin()") for item in block.items)
    ]
    assert not lone, f"{path.name}: db.session() without s.begin() at lines {lone} (a read? use read_session)"
