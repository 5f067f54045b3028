"""The prompts of the LLM answer mode, read from prompts/*.txt (one file per message: a system
and a user template for each task) and rendered strictly: a variable missing from the values,
or a value the template does not use, is an error. Templates write variables as $name."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from pathlib import Path
from string import Template

from core.errors import NewsAssistantError

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "prompts"
TASKS = ("answer", "rewrite")


class PromptError(NewsAssistantError):
    """A prompt template is missing or was rendered with the wrong variables."""


@dataclass(frozen=True)
class Prompt:
    """One message template: its file name and text."""

    name: str
    text: str

    @property
    def variables(self) -> frozenset[str]:
        return frozenset(Template(self.text).get_identifiers())

    def render(self, **values: str) -> str:
        """The message with every variable filled; PromptError names what is missing or extra."""
        missing, extra = self.variables - set(values), set(values) - self.variables
        if missing or extra:
            raise PromptError(
                f"prompt {self.name}: missing {sorted(missing)}, unexpected {sorted(extra)}"
            )
        return Template(self.text).substitute(values).strip()


@functools.cache
def load_prompt(task: str, role: str, folder: Path = PROMPTS_DIR) -> Prompt:
    """The `role` ("system" or "user") template of `task` from `folder`."""
    path = folder / f"{task}.{role}.txt"
    if not path.is_file():
        raise PromptError(f"no prompt template {path}: reinstall news-assistant")
    return Prompt(path.name, path.read_text(encoding="utf-8"))
