"""The web UI's login: checks the configured user and slows down repeated failed attempts."""

from __future__ import annotations

import asyncio
import hmac
from collections import Counter
from collections.abc import Awaitable, Callable

from core.settings import UISettings

Sleep = Callable[[float], Awaitable[None]]
LoginCheck = Callable[[str, str], Awaitable[bool]]


class LoginThrottle:
    """Checks a (user name, password) pair for Gradio's `auth=`. After a failed attempt for a
    name, the next attempt for it waits first: `base` seconds, doubling with each failure in a
    row, at most `cap`; a success resets it. An attempt counts as failed until it succeeds, so
    attempts made at the same time wait their turn. The wait is awaited (`sleep`), so other
    users' requests go on meanwhile; failures for names other than the configured one are
    counted together, which keeps the count small whatever names are tried."""

    def __init__(
        self,
        user: str,
        password: str,
        *,
        base: float = 1.0,
        cap: float = 30.0,
        sleep: Sleep = asyncio.sleep,
    ) -> None:
        self._user = user
        self._password = password
        self._base = base
        self._cap = cap
        self._sleep = sleep
        self._failures: Counter[str] = Counter()

    def delay(self, failures: int) -> float:
        """Seconds an attempt waits after `failures` failed ones in a row."""
        return 0.0 if failures <= 0 else min(self._cap, self._base * 2 ** (failures - 1))

    async def check(self, username: str, password: str) -> bool:
        key = username if username == self._user else ""
        failures = self._failures[key]
        self._failures[key] += 1  # counted as failed until it succeeds
        if failures:
            await self._sleep(self.delay(failures))
        if _same(username, self._user) and _same(password, self._password):
            del self._failures[key]
            return True
        return False


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def login_check(settings: UISettings) -> LoginCheck | None:
    """The coroutine function Gradio calls on each login (it awaits a coroutine function, so
    the wait never blocks its event loop), or None when no login is set."""
    credentials = settings.auth()
    if credentials is None:
        return None
    return LoginThrottle(*credentials).check
