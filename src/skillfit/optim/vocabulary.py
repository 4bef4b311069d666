"""Whose words an edit uses: the task's, an item's particulars, or someone else's.

A rule in the task's vocabulary teaches; one naming an item's particulars ("the hummingbird is
left of the cardinal", "Phoebe did not tell the truth") memorises that item; one about the
optimizer prompts' example topic ("Convert cups to grams" on a task about swapping balls) or
quoting text foreign to the task ("What is the capital of France?") was made up by a small
optimizer. `item_words` gathers the items' words once per run; `names_an_item`,
`borrows_example_topic` and `quotes_foreign` judge a text by them.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import cache

from skillfit.optim.prompting import optimizer_prompts, render_target
from skillfit.tasks.base import Item

_CONTENT = re.compile(r"[a-z]{3,}")
RARE_SHARE = 0.03  # a word (or pair of words) in at most this share of the items is particular
UNCOMMON_SHARE = 0.15  # words in more of the items are the task's vocabulary
_WORD = re.compile(r"[a-z]{4,}")


@dataclass(frozen=True)
class ItemWords:
    """Words particular to few items, to tell a rule that names an item's particulars ("the
    hummingbird is left of the cardinal") from one in the task's vocabulary, when no run of
    the item's words is quoted. `owners` maps each uncommon word to the items holding it."""

    owners: Mapping[str, frozenset[str]]
    limit: int
    # Every word of the items and of the task's own text (instructions, initial skill), for
    # telling a rule about the task from one about the optimizer prompts' example topic.
    vocabulary: frozenset[str] = frozenset()
    # Proper names of the items (people, places: capitalized inside a sentence), casefolded:
    # a name is an item's particular however many items share it ("mentioning that Phoebe did
    # not tell the truth" was adopted on web_of_lies, where each name is in several items).
    names: frozenset[str] = frozenset()
    # The words of answers two or more items give ("yes", "invalid"): the task's answer labels,
    # its format vocabulary rather than a topic (see quotes_foreign).
    labels: frozenset[str] = frozenset()

    def particular(self, a: str, b: str | None = None) -> bool:
        ids = self.owners.get(a, frozenset())
        if b is not None:
            ids = ids & self.owners.get(b, frozenset())
        return 0 < len(ids) <= self.limit


def item_words(items: Iterable[Item], *, common: str = "", task_text: str = "") -> ItemWords:
    """The uncommon words of the items' inputs (in at most UNCOMMON_SHARE of them, and not in
    `common`, e.g. the task's instructions and initial skill), with the items holding each;
    the vocabulary is every word of the items (inputs and answers) and of `task_text`."""
    items = list(items)
    owners: dict[str, set[str]] = {}
    # Words of three letters too: "yes", "lie", "red" are a task's vocabulary (see quotes_foreign).
    vocabulary: set[str] = set(_CONTENT.findall(task_text.casefold()))
    for item in items:
        vocabulary.update(_CONTENT.findall(f"{item.input}\n{item.target}".casefold()))
        for word in set(_WORD.findall(item.input.casefold())):
            owners.setdefault(word, set()).add(item.id)
    allowed = set(_WORD.findall(common.casefold()))
    uncommon = max(1, int(UNCOMMON_SHARE * len(items)))
    answers = {w for item in items for w in _WORD.findall(str(item.target).casefold())}
    # Words written in lower case in the items or in the optimizer prompts' English are words,
    # not names, wherever a sentence happens to start with them.
    lower = {w for item in items for w in re.findall(r"\b[a-z]{4,}\b", item.input)}
    lower |= set(re.findall(r"\b[a-z]{4,}\b", optimizer_prompts()))
    names = {
        w.casefold()
        for item in items
        for w in _NAME.findall(item.input)
        if w.casefold() not in allowed | answers | lower
    }
    return ItemWords(
        owners={
            w: frozenset(ids)
            for w, ids in owners.items()
            if len(ids) <= uncommon and w not in allowed
        },
        limit=max(1, int(RARE_SHARE * len(items))),
        vocabulary=frozenset(_stem(w) for w in vocabulary),
        names=frozenset(names),
        labels=frozenset(
            w
            for w, n in Counter(
                w
                for item in items
                for w in set(_CONTENT.findall(render_target(item.target).casefold()))
            ).items()
            if n >= 2
        ),
    )


# A capitalized word inside a sentence (not after its end or a line break): a proper name.
_NAME = re.compile(r"(?<![.!?:\n]\s)(?<![.!?:\n])(?<!^)\b[A-Z][a-z]{3,}\b")


def _stem(word: str) -> str:
    return word[:-1] if word.endswith("s") and len(word) > 4 else word


# The topics of the optimizer prompts' made-up examples (recipes, units): a small optimizer
# writes them into rules for any task ("Convert cups to grams" on a task about swapping balls).
# A test checks that every word here occurs in the prompts.
EXAMPLE_TOPIC = frozenset(
    [
        "cups",
        "grams",
        "ingredient",
        "recipe",
        "recipes",
        "scaling",
        "servings",
        "soup",
        "stock",
        "unit",
        "units",
        "convert",
    ]
)


_TOPIC_STEMS = frozenset(_stem(w) for w in EXAMPLE_TOPIC)


def borrows_example_topic(text: str, words: ItemWords | None) -> str | None:
    """The first word of `text` that comes from an optimizer prompt's example topic and from
    no item or task text ("Convert cups to grams" on a task about swapping balls: the small
    optimizer wrote the rules prompt's unit-conversion example over again), or None."""
    if words is None or not words.vocabulary:
        return None
    for word in _WORD.findall(text.casefold()):
        if _stem(word) in _TOPIC_STEMS and _stem(word) not in words.vocabulary:
            return word
    return None


# Quoted text in a rule: "...", “...”, ‘...’, `...`, and '...' standing apart from words (the
# apostrophe of "don't" or "the model's" opens no quote).
_QUOTED = re.compile(
    r'"([^"\n]+)"|“([^”\n]+)”|‘([^’\n]+)’|`([^`\n]+)`|(?<![\w\'])\'([^\'\n]+)\'(?![\w\'])'
)
_PLACEHOLDER = re.compile(r"<[^<>\n]*>")  # `Answer: <answer>`: a slot, not quoted text
FOREIGN_WORDS = 2  # content words of a quoted span, none of them the task's, that make it foreign
# English function words: they tell nothing of a span's topic ("What is the capital of France?"
# is about "capital" and "France").
_FUNCTION_WORDS = frozenset(
    re.findall(
        r"[a-z]+",
        """the and for but nor not yet you your yours she her hers him his its they them their
        theirs our ours who whom whose what which when where why how that this these those
        there here with without from into onto upon about than then was were are been being
        have has had does did doing done can could will would shall should may might must also
        just very all any each every some such own same other only too out off over under again
        once both few more most much many let via per because while until after before since
        though although whether either neither one ones""",
    )
)


@cache
def _prompt_words() -> frozenset[str]:
    """The optimizer prompts' words (their common vocabulary, see prompting.optimizer_prompts)
    without the example topic's: "steps", "answer line" are any task's words, "grams" none."""
    return frozenset(_stem(w) for w in _CONTENT.findall(optimizer_prompts().casefold())) - (
        _TOPIC_STEMS
    )


def _known(word: str, vocabulary: frozenset[str]) -> bool:
    forms = {word, _stem(word), f"{word}s", word[:-1] if word.endswith("s") else word}
    return any(f in vocabulary or f in _prompt_words() for f in forms)


def quotes_foreign(text: str, words: ItemWords | None) -> str | None:
    """The first quoted span of `text` foreign to the task, or None: one holding at least
    FOREIGN_WORDS content words (three letters or more, no function word, no answer label of
    the task) of which none occurs in the items, the task's own text or the optimizer prompts'
    common words (a procedure for web_of_lies quoting "What is the capital of France?" and
    "Yes, Paris is the capital of France"). The task's answer vocabulary passes: `Answer:
    <answer>`, "Yes", "(A)" and the items' labels are its words, and a placeholder in angle
    brackets is a slot, not text. A single word ("Paris") is too little to judge by."""
    if words is None or not words.vocabulary:
        return None
    for match in _QUOTED.finditer(text):
        span = next(g for g in match.groups() if g is not None)
        content = [
            w
            for w in _CONTENT.findall(_PLACEHOLDER.sub(" ", span).casefold())
            if w not in _FUNCTION_WORDS and w not in words.labels
        ]
        if len(content) >= FOREIGN_WORDS and not any(_known(w, words.vocabulary) for w in content):
            return " ".join(span.split())
    return None


def names_an_item(text: str, words: ItemWords | None) -> str | None:
    """What in `text` names an item's particulars: a proper name from the items, or, as
    "w1 … w2", two uncommon words that occur together in at most a few items (see item_words);
    None when there is none."""
    if words is None:
        return None
    for name in _WORD.findall(text.casefold()):
        if name in words.names:
            return name
    if not words.owners:
        return None
    for sentence in re.split(r"\n+|(?<=[.!?;:])\s+", text.casefold()):
        found = [w for w in dict.fromkeys(_WORD.findall(sentence)) if w in words.owners]
        for i, a in enumerate(found):
            for b in found[i + 1 :]:
                if words.particular(a, b):
                    return f"{a} … {b}"
    return None
