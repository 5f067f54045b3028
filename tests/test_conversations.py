"""Follow-ups in conversations, with the real embedder over articles written for these tests
(tests/fixtures/conversations: two strikes in different places and months, and an arrest):
a follow-up stays with the article the previous question was about, and a figures list holds
only figures about the question's subject."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from assistant.api import Assistant, with_location
from core.settings import Settings

ARTICLES = Path(__file__).parent / "fixtures" / "conversations"
TITLES = {
    "douma": "Air strike on Douma market kills 12",
    "idlib": "Strike hits Idlib bakery in June",
    "zambia": "British man held in Zambia",
}


@pytest.fixture(scope="module")
def assistant(tmp_path_factory: pytest.TempPathFactory, e5_embedder: Any) -> Assistant:
    folder = tmp_path_factory.mktemp("conversations") / "store"
    assistant = Assistant(with_location(Settings(), str(folder)), embedder=e5_embedder)
    assert assistant.ingest([ARTICLES]).articles == 3
    return assistant


def conversation(assistant: Assistant, *questions: str) -> list[Any]:
    """The answers to `questions` asked one after the other in one conversation."""
    messages: list[dict[str, str]] = []
    answers = []
    for question in questions:
        messages.append({"role": "user", "content": question})
        answers.append(assistant.chat(messages))
        messages.append({"role": "assistant", "content": answers[-1].text})
    return answers


def cited_titles(answer: Any) -> set[str]:
    return {c.title for c in answer.citations}


@pytest.mark.model
@pytest.mark.parametrize(
    ("questions", "about"),
    [
        (("Who carried out the air strike on the Douma market?", "and how many were injured?"),
         "douma"),
        (("How many people were injured in the Idlib bakery strike?", "who carried it out?"),
         "idlib"),
        (("Who was arrested in Zambia?", "and how old is he?"), "zambia"),
        (("Who was arrested in Zambia?", "what did his lawyer say?"), "zambia"),
        (("How many people did the Douma strike kill?", "and who carried it out?"), "douma"),
    ],
)  # fmt: skip
def test_a_follow_up_stays_with_the_previous_questions_article(
    assistant: Assistant, questions: tuple[str, ...], about: str
) -> None:
    first, follow_up = conversation(assistant, *questions)
    assert cited_titles(first) == {TITLES[about]}
    assert follow_up.answered and cited_titles(follow_up) == {TITLES[about]}


@pytest.mark.model
def test_the_follow_up_figure_is_the_one_of_that_event(assistant: Assistant) -> None:
    _, injured = conversation(
        assistant,
        "Who carried out the air strike on the Douma market?",
        "and how many were injured?",
    )
    assert "30 people" in injured.text and "14" not in injured.text


@pytest.mark.model
def test_a_figures_list_leaves_out_other_events(assistant: Assistant) -> None:
    answer = assistant.ask("How many people were injured in the Idlib bakery strike?")
    assert "14 people" in answer.text
    assert cited_titles(answer) == {TITLES["idlib"]}  # not the Douma strike's 12 or 30
