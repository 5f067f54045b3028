"""Walk the web UI in Debian's chromium and keep screenshots (docs/ui/): a question, a
follow-up answered, then the older answer's marker [1] clicked, which must open that answer's
own source. Needs the test extras (playwright) and chromium (`make browser`).

    python scripts/ui_walk.py [--out docs/ui]
"""

from __future__ import annotations

import argparse
import socket
import tempfile
from pathlib import Path

from assistant import Assistant, Settings, with_location
from assistant.frontends.ui import build_app, launch
from core.settings import UISettings

ROOT = Path(__file__).parent.parent
ARTICLES = ROOT / "tests" / "fixtures" / "conversations"  # written for the tests
SAMPLE = ROOT / "data" / "sample"
CHROMIUM = "/usr/bin/chromium"
WAIT_MS = 180_000


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def ask(page: object, question: str, answers: int) -> None:
    box = page.locator("#na-question textarea")  # type: ignore[attr-defined]
    box.fill(question)
    box.press("Enter")
    shown = page.locator("#na-chat .na-answer")  # type: ignore[attr-defined]
    shown.nth(answers - 1).wait_for(state="visible", timeout=WAIT_MS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "ui")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as tmp:
        assistant = Assistant(with_location(Settings(), str(Path(tmp) / "store")))
        assistant.ingest([ARTICLES])
        assistant.ingest([SAMPLE], defaults={"source": "Al-Araby Al-Jadeed"})
        app = build_app(assistant)
        url = launch(app, UISettings(port=free_port()), prevent_thread_lock=True, quiet=True)
        with sync_playwright() as pw:
            browser = pw.chromium.launch(
                executable_path=CHROMIUM, args=["--headless", "--no-sandbox"]
            )
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)
            page.locator("#na-status", has_text="Ready").wait_for(timeout=WAIT_MS)
            ask(page, "Who carried out the air strike on the Douma market?", 1)
            ask(page, "and how many were injured?", 2)
            page.screenshot(path=str(args.out / "follow-up.png"), full_page=True)
            first = page.locator("#na-chat .na-answer").nth(0).locator("a.na-marker").first
            first.click()
            target = page.evaluate("location.hash")
            entry = page.locator(target)
            print(f"older answer's marker opens {target}: {entry.inner_text()[:160]!r}")
            page.screenshot(path=str(args.out / "older-marker.png"), full_page=True)
            browser.close()
        app.close()
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()
