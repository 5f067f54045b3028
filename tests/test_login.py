"""The web UI's login: repeated failures for a user name are slowed down, never by sleeping
in the event loop; a success resets the wait; other names are not slowed by them."""

from __future__ import annotations

import asyncio
import inspect

from assistant.frontends.login import LoginThrottle, login_check
from core.settings import UISettings


def throttle(waited: list[float]) -> LoginThrottle:
    async def sleep(seconds: float) -> None:
        waited.append(seconds)

    return LoginThrottle("ann", "secret", base=1.0, cap=8.0, sleep=sleep)


def test_failed_logins_wait_longer_each_time_and_a_success_resets() -> None:
    waited: list[float] = []
    gate = throttle(waited)
    results = [asyncio.run(gate.check("ann", "wrong")) for _ in range(6)]
    assert results == [False] * 6
    assert waited == [1.0, 2.0, 4.0, 8.0, 8.0]  # the first attempt does not wait
    assert asyncio.run(gate.check("ann", "secret")) is True
    waited.clear()
    assert asyncio.run(gate.check("ann", "secret")) is True
    assert waited == []


def test_another_name_is_not_slowed_by_failures_for_ann() -> None:
    waited: list[float] = []
    gate = throttle(waited)
    for _ in range(5):
        asyncio.run(gate.check("ann", "wrong"))
    waited.clear()
    assert asyncio.run(gate.check("bob", "secret")) is False
    assert waited == []


def test_attempts_at_the_same_time_each_wait_their_turn() -> None:
    waited: list[float] = []
    gate = throttle(waited)

    async def three() -> list[bool]:
        return list(await asyncio.gather(*(gate.check("ann", "wrong") for _ in range(3))))

    assert asyncio.run(three()) == [False, False, False]
    assert sorted(waited) == [1.0, 2.0]


def test_login_check_is_async_for_gradio_and_absent_without_a_login() -> None:
    check = login_check(UISettings(auth_user="ann", auth_password="secret"))  # type: ignore[arg-type]
    assert check is not None and inspect.iscoroutinefunction(check)
    assert login_check(UISettings()) is None
