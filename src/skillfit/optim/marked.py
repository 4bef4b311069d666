"""Worked examples of training items, as they sit in a skill: the `## Examples` section, each
example marked with its item's id so the guard and the audit can tell a deliberate example (a
training item, its gold answer, at most MAX_EXAMPLES of them) from leaked item text.

    ## Examples
    Questions of this task, solved. Reply in the same way: your working, then the answer line.

    <!-- example: train-17 -->
    Question: <the item's input>
    Reply:
    <a few lines of working>
    Answer: <the item's gold answer>

The marker is an HTML comment: markdown renderers hide it, and it names the item for the
audit. An input that already begins with `Question:` (BIG-Bench Hard's do) is written with
that label once; an example written before with it twice (`Question: Question: ...`) still
reads as the same question. Parsing and writing only; what makes an example acceptable is
`optim.examples`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from skillfit.skill import Edit, Skill, slugify

EXAMPLES_HEADING = "Examples"
EXAMPLES_SECTION = slugify(EXAMPLES_HEADING)
EXAMPLES_INTRO = (
    "Questions of this task, solved. Reply in the same way: your working, then the answer line."
)
MAX_EXAMPLES = 3
MARKER = re.compile(r"^<!-- example: (\S+) -->[ \t]*$", re.MULTILINE)
# Item ids that fit in a marker, and inputs that fit in a section (no heading, fence or comment
# of their own, and no line that reads as the example's own `Reply:` or `Answer:` line).
_ID = re.compile(r"^[\w.:/@+-]{1,80}$")
_BREAKS_SECTION = re.compile(r"^\s{0,3}(?:#|```|~~~)|^(?:Reply|Answer):|<!--|-->", re.MULTILINE)


def marker(item_id: str) -> str:
    return f"<!-- example: {item_id} -->"


def flat(text: str) -> str:
    """Whitespace collapsed: how an example's question and answer are compared with its item."""
    return " ".join(str(text).split())


_LABEL = re.compile(r"^\s*Question:\s*")


def question_body(text: str) -> str:
    """An item's input as an example writes it after its own `Question:` label: stripped, and
    without a leading `Question:` label of its own (BIG-Bench Hard inputs begin with one)."""
    return _LABEL.sub("", str(text), count=1).strip()


def item_question(text: str) -> str:
    """How an example's question and its item's input are compared: `question_body`, with
    whitespace collapsed."""
    return flat(question_body(text))


def gold_answer(target: Any) -> str:
    """The answer an example states for an item: its target, or the first of several."""
    if isinstance(target, list | tuple) and target:
        target = target[0]
    return flat(target if isinstance(target, str) else str(target))


def markable(item_id: str, text: str) -> bool:
    """Whether an item can be written as a marked example (its id fits a marker, and its input
    holds no heading, code fence or HTML comment)."""
    return bool(_ID.match(item_id)) and not _BREAKS_SECTION.search(text)


def example_block(item_id: str, question: str, working: Sequence[str], answer: str) -> str:
    """One marked example: marker, question (its `Question:` label once), the working lines,
    the answer line."""
    lines = [marker(item_id), f"Question: {question_body(question)}", "Reply:"]
    lines += [flat(line) for line in working if line.strip()]
    lines.append(f"Answer: {flat(answer)}")
    return "\n".join(lines)


def examples_section(blocks: Sequence[str]) -> str:
    """The whole `## Examples` section holding `blocks` (see `example_block`)."""
    return "\n\n".join([f"## {EXAMPLES_HEADING}\n{EXAMPLES_INTRO}", *blocks])


@dataclass(frozen=True)
class MarkedExample:
    item_id: str
    question: str
    working: tuple[str, ...]
    answer: str
    text: str  # the block as written, marker included

    @property
    def reply(self) -> str:
        """The example's reply as the target would write it: working, then the answer line."""
        return "\n".join([*self.working, f"Answer: {self.answer}"])


def parse_examples(text: str) -> list[MarkedExample]:
    """The marked examples in `text`, in order. A block runs from its marker through the first
    `Answer:` line after its `Reply:` line (or, lacking one, to the next marker or heading);
    its question is what follows `Question:` up to the `Reply:` line (`item_question`: a
    second label, as examples written before this was fixed have, is no part of it), its
    working the lines between. Text after the answer line is not part of the example."""
    found: list[MarkedExample] = []
    starts = list(MARKER.finditer(text))
    for i, m in enumerate(starts):
        end = starts[i + 1].start() if i + 1 < len(starts) else len(text)
        heading = re.search(r"^\s{0,3}#", text[m.end() : end], re.MULTILINE)
        if heading:
            end = m.end() + heading.start()
        lines = text[m.start() : end].rstrip().split("\n")
        reply = next((j for j, line in enumerate(lines) if line.strip() == "Reply:"), None)
        last = None
        if reply is not None:
            last = next(
                (j for j in range(reply + 1, len(lines)) if lines[j].startswith("Answer:")), None
            )
        if last is not None:
            lines = lines[: last + 1]
        question = "\n".join(lines[1:reply] if reply is not None else lines[1:]).strip()
        question = (
            item_question(question[len("Question:") :]) if question.startswith("Question:") else ""
        )
        answer = lines[last][len("Answer:") :] if last is not None else ""
        working = lines[reply + 1 : last] if reply is not None and last is not None else []
        found.append(
            MarkedExample(
                item_id=m.group(1),
                question=flat(question),
                working=tuple(flat(w) for w in working if w.strip()),
                answer=flat(answer),
                text="\n".join(lines).rstrip(),
            )
        )
    return found


def without_examples(text: str) -> str:
    """`text` with its marked examples and the section's fixed intro line taken out."""
    for example in parse_examples(text):
        text = text.replace(example.text, "")
    text = text.replace(EXAMPLES_INTRO, "")
    return re.sub(r"\n{3,}", "\n\n", text).strip()


def skill_examples(skill: Skill) -> list[MarkedExample]:
    """The marked examples of the skill's `## Examples` section."""
    if EXAMPLES_SECTION not in skill.section_ids:
        return []
    return parse_examples(skill.section(EXAMPLES_SECTION).body)


class ExampleCheck(Protocol):
    """What the guard asks about an edit that touches worked examples (see optim.examples)."""

    def problem(self, edit: Edit, skill: Skill, feedback: Sequence[str] = ()) -> str | None:
        """Why the edit's examples may not go in, or None."""
        ...
