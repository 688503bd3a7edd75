"""A local Telegram for phototalk: the Bot API emulator the tests use and a chat page in the browser.

`python -m playground` (or `make playground`) runs the emulator, the real bot against it and the page.
"""

from playground.botapi import ApiError, Call, FakeBotApi

__all__ = ["ApiError", "Call", "FakeBotApi"]
