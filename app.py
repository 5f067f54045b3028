"""Start the web UI over the configured store: `python app.py` (settings: core/settings.py)."""

from __future__ import annotations

import logging

from assistant import Assistant, Settings
from assistant.frontends.ui import build_app, launch


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    settings = Settings()
    launch(build_app(Assistant(settings)), settings.ui)


if __name__ == "__main__":
    main()
