"""Run the assistant (the chat UI arrives with the UI issue; until then, the command line)."""

from assistant.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
