"""STARS_PACKS is read as the operator writes it, and refused loudly when it is wrong."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.offers import pack_of, payload_of
from bot.settings import Settings


def test_packs_are_read_as_videos_and_stars(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STARS_PACKS", " 10:50, 30:120 ,")
    assert Settings(_env_file=None).stars_packs == [(10, 50), (30, 120)]  # type: ignore[call-arg]  # _env_file is pydantic-settings' own


def test_no_packs_means_nothing_is_sold(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("STARS_PACKS", "")
    assert Settings(_env_file=None).stars_packs == []  # type: ignore[call-arg]  # _env_file is pydantic-settings' own


@pytest.mark.parametrize("value", ["10", "10:fifty", "0:50", "10:0", "10-50"])
def test_a_malformed_pack_stops_the_bot_at_start(monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("STARS_PACKS", value)
    with pytest.raises(ValidationError, match="STARS_PACKS"):
        Settings(_env_file=None)  # type: ignore[call-arg]  # _env_file is pydantic-settings' own


def test_an_invoice_payload_names_its_pack_and_nothing_else() -> None:
    assert pack_of(payload_of((30, 120))) == (30, 120)
    for foreign in ("", "pack:", "pack:ten:50", "gift:10:50", "pack:10"):
        assert pack_of(foreign) is None
