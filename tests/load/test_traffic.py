"""The load suite's judge: it must catch what it exists to catch (no processes, no network)."""

from __future__ import annotations

from collections import Counter

from bot.texts import t
from tests.load.traffic import Books, Outcome, Request, catalog_key, judge


def outcome(user: int, message: int, kind: str, videos: int = 0, final: str | None = None) -> Outcome:
    request = Request(user, "en", kind, message, sent_at=0.0)
    return Outcome(
        request,
        first_reply_at=0.1,
        videos=[1.0 + i for i in range(videos)],
        final=final,
        final_at=0.2 if final else None,
    )


def a_user(user: int, videos: tuple[int, int, int], last: str | None = None) -> list[Outcome]:
    return [
        outcome(user, 1, "photo", final="one_face"),
        outcome(user, 2, "voice", videos[0]),
        outcome(user, 3, "text", videos[1]),
        outcome(user, 4, "voice", videos[2], final=last),
    ]


def books(debits: dict[int, int], refunds: dict[int, int] | None = None) -> Books:
    return Books(Counter(debits), Counter(refunds or {}), Counter({"done": sum(debits.values())}), Counter())


def test_a_clean_run_has_no_problems() -> None:
    outcomes = a_user(1, (1, 1, 1)) + a_user(2, (1, 1, 0), last="quota_exceeded")
    verdict = judge(outcomes, {1: 3, 2: 2}, books({1: 3, 2: 2}), {})
    assert verdict.problems == []
    assert (verdict.videos, verdict.lost, verdict.duplicates) == (5, 0, 0)
    assert verdict.refusals == {"quota_exceeded": 1}


def test_a_duplicate_video_is_a_problem() -> None:
    verdict = judge(a_user(1, (1, 2, 1)), {1: 3}, books({1: 3}), {})
    assert verdict.duplicates == 1
    assert any("2 videos for one request" in p for p in verdict.problems)


def test_an_unanswered_request_is_lost() -> None:
    outcomes = a_user(1, (1, 1, 0))  # no video and no refusal for the last one
    verdict = judge(outcomes, {1: 3}, books({1: 2}), {})
    assert verdict.lost == 1
    assert any("never answered" in p for p in verdict.problems)


def test_more_videos_than_the_quota_or_a_ledger_that_disagrees_is_a_problem() -> None:
    verdict = judge(a_user(1, (1, 1, 1)), {1: 2}, books({1: 3}), {})
    assert any("3 videos, expected 2" in p for p in verdict.problems)
    verdict = judge(a_user(1, (1, 1, 1)), {1: 3}, books({1: 3}, {1: 1}), {})
    assert any("ledger charges 2" in p for p in verdict.problems)


def test_a_refusal_other_than_the_quota_or_a_stray_message_is_a_problem() -> None:
    verdict = judge(a_user(1, (1, 1, 0), last="internal_error"), {1: 2}, books({1: 2}), {})
    assert any("other than the quota" in p for p in verdict.problems)
    verdict = judge(a_user(1, (1, 1, 1)), {1: 3}, books({1: 3}), {1: [t("error", "en")]})
    assert any("answer nothing" in p for p in verdict.problems)


def test_bot_texts_are_recognised_by_their_catalog_key() -> None:
    assert catalog_key(t("rendering", "zh", percent=40), "zh") == "rendering"
    quota = t("quota_exceeded", "en", time="2026-12-02 00:00", timezone="Etc/GMT+10")
    assert catalog_key(quota, "en") == "quota_exceeded"
    assert catalog_key("hello", "en") == "?hello"
