"""Start the web UI over the configured store: `python app.py` (settings: assistant/settings.py)."""

from __future__ import annotations

import logging

from assistant.api import Assistant
from assistant.settings import Settings
from assistant.ui import build_app, launch


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    settings = Settings()
    launch(build_app(Assistant(settings)), settings.ui)


if __name__ == "__main__":
    main()
