"""The diagnosis stage of reflection: what one optimizer reply says went wrong (`Diagnosis`),
pooled over a step's minibatches (`Findings`) with every sentence that quotes or names an
item's particulars dropped, and the word filters that tell an item's particulars from the
task's words (`particular_words`, `item_numbers`, `holds_particular`)."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import BaseModel, Field

from skillfit.optim.vocabulary import ItemWords, borrows_example_topic, names_an_item
from skillfit.skill import mentions_any

MISTAKE_CHARS = 120
MAX_MISTAKES = 8


class Diagnosis(BaseModel):
    """The first stage of `diagnose`: what went wrong, in words that carry no item."""

    task: str = Field(..., max_length=200)
    mistakes: list[Annotated[str, Field(max_length=MISTAKE_CHARS)]] = Field(
        ..., max_length=MAX_MISTAKES
    )
    contrast: str = Field("", max_length=250)


# Numbers of two or more digits ("98", "2,400", "0.50"): one item's quantities.
_NUMBER = re.compile(r"\d[\d,.]*\d")
_LOWER_WORD = re.compile(r"[a-z]{4,}")


def particular_words(texts: Sequence[str], words: ItemWords | None) -> frozenset[str]:
    """What in `texts` (items the optimizer was shown) belongs to those items rather than to
    the task: their uncommon words (see vocabulary.item_words: "park", "ingredient", a name) and
    their numbers of two or more digits. Text the optimizer writes holding one of these
    describes an item it saw, not a kind of task or mistake."""
    found: set[str] = set()
    for text in texts:
        low = text.casefold()
        if words is not None:
            found.update(w for w in _LOWER_WORD.findall(low) if w in words.owners)
        found.update(_NUMBER.findall(low))
    return frozenset(found)


def item_numbers(texts: Sequence[str]) -> frozenset[str]:
    """The numbers of two or more digits in `texts`: in a diagnosis, one item's quantities."""
    return frozenset(n for text in texts for n in _NUMBER.findall(text.casefold()))


def holds_particular(text: str, particular: frozenset[str]) -> bool:
    """Whether `text` holds a word or number of `particular` (see `particular_words`)."""
    if not particular:
        return False
    low = text.casefold()
    return any(t in particular for t in (*_LOWER_WORD.findall(low), *_NUMBER.findall(low)))


# "In the first three tasks, the model ...": one diagnosis retelling a few shown items, not a
# kind of mistake (the rules written from it name those items' particulars: "find the total
# cost, not the total number of servings" came from one GSM8K question about servings).
_POINTS_AT_ITEMS = re.compile(
    r"\b(?:first|second|third|last|one|two|three|four|\d+)\s+(?:\w+\s+)?(?:tasks|questions)\b"
    r"|\b(?:first|second|third|last)\s+(?:task|question)\b",
    re.IGNORECASE,
)
# "The correct answer should be the total cost": what one item's answer is, which the
# diagnosis prompt asks not to write.
_STATES_THE_ANSWER = re.compile(
    r"\b(?:correct|right|expected)\s+(?:answer|result)\s+(?:should|would|is|was|must)\b",
    re.IGNORECASE,
)


@dataclass
class Findings:
    """What the diagnoses of one step say, pooled over minibatches; item quotes dropped."""

    task: str = ""
    mistakes: Counter[str] = field(default_factory=Counter)
    contrasts: list[str] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)  # quoted an item: never shown again

    def add(
        self,
        diagnosis: Diagnosis,
        needles: Sequence[str],
        echo: str = "",
        particular: frozenset[str] = frozenset(),
        words: ItemWords | None = None,
    ) -> None:
        """Pool one diagnosis. Text quoting an item (`needles`), naming an item's particulars
        (`words`, see vocabulary.names_an_item) or holding a number of an item the optimizer was
        shown (`particular`, see `item_numbers`) is dropped and remembered; text found in `echo` (the instructions and the guide the optimizer was
        shown) or about the prompts' example topic (`words`, see vocabulary.borrows_example_topic)
        is dropped too: a small model copies its prompt's examples instead of diagnosing."""
        echoed = " ".join(echo.split()).casefold()

        def clean(text: str) -> str | None:
            text = " ".join(text.split()).strip(" -.")
            if not text:
                return None
            if (
                (needles and mentions_any(text, needles))
                or holds_particular(text, particular)
                or names_an_item(text, words)
            ):
                self.dropped.append(text)
                return None
            if (len(text) >= 12 and text.casefold() in echoed) or borrows_example_topic(
                text, words
            ):
                return None
            if re.search(r"['\"“”‘’]|\btask \d", text, re.IGNORECASE):
                return None  # quotes an answer, or names the listing instead of a mistake
            if _POINTS_AT_ITEMS.search(text) or _STATES_THE_ANSWER.search(text):
                return None
            return text

        task = clean(diagnosis.task)
        if task and not self.task:
            self.task = task
        for mistake in diagnosis.mistakes:
            m = clean(mistake)
            if m:
                self.mistakes[m.casefold()] += 1
        contrast = clean(diagnosis.contrast)
        if contrast and contrast.casefold() not in {c.casefold() for c in self.contrasts}:
            self.contrasts.append(contrast)

    def render(self) -> str:
        lines = [
            f"- {m}" + (f" ({n} times)" if n > 1 else "") for m, n in self.mistakes.most_common()
        ]
        parts = [f"# What the task asks\n{self.task or '(not described)'}"]
        parts.append("# Mistakes the model made\n" + ("\n".join(lines) or "(none named)"))
        if self.contrasts:
            parts.append(
                "# What the right answers did\n" + "\n".join(f"- {c}" for c in self.contrasts)
            )
        return "\n\n".join(parts)
