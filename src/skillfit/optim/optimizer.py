"""Asking the optimizer model for schema-shaped JSON, with retries, keeping every raw reply."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, create_model

from skillfit.models.base import ChatModel, InfraError, Message
from skillfit.skill import Edit

M = TypeVar("M", bound=BaseModel)

# Generous enough for a real instruction, small enough that a looping small model is cut off
# by the grammar instead of the token cap.
ANALYSIS_CHARS = 400
CONTENT_CHARS = 600  # about five lines: the prompts ask for one to five
RATIONALE_CHARS = 200
# Edits per reply. The step's budget caps what is applied; a reply with more edits than this is
# mostly a small model repeating itself until the token cap cuts the JSON off.
MAX_EDITS_PER_REPLY = 3


@dataclass
class Attempt:
    sample: int
    temperature: float
    raw: str = ""
    error: str | None = None
    finish_reason: str = ""
    cached: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0


@dataclass
class OptimizerAnswer:
    parsed: Any = None  # the validated pydantic object, or None when every attempt failed
    attempts: list[Attempt] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.parsed is not None

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "parsed": self.parsed.model_dump(mode="json") if self.parsed is not None else None,
            "attempts": [asdict(a) for a in self.attempts],
        }


def edits_schema(section_ids: Sequence[str], max_edits: int) -> type[BaseModel]:
    """The reply schema for edit proposals. Section ids are an enum of the skill's own ids, so
    grammar-constrained decoding cannot invent a section; the schema stays small on purpose."""
    section_type: Any = Literal[tuple(section_ids)] | None if section_ids else None
    op_type: Any = Literal["add", "replace", "delete"]
    proposed = create_model(
        "ProposedEdit",
        op=(op_type, ...),
        section=(section_type, None),
        anchor=(str | None, None),
        content=(str, Field("", max_length=CONTENT_CHARS)),
        rationale=(str, Field("", max_length=RATIONALE_CHARS)),
    )
    return create_model(
        "EditProposals",
        analysis=(str, Field(..., max_length=ANALYSIS_CHARS)),
        edits=(list[proposed], Field(..., max_length=per_reply(max_edits))),  # type: ignore[valid-type]
    )


TITLE_CHARS = 60
RULE_CHARS = 400


def rules_schema(section_ids: Sequence[str], max_rules: int) -> type[BaseModel]:
    """The reply schema of the rules stage: each rule a title and a few lines, optionally
    replacing one section. A small model fills these fields reliably where it garbles free
    add/replace/delete edits (it pastes the whole guide into one "add")."""
    section_type: Any = Literal[tuple(section_ids)] | None if section_ids else None
    rule = create_model(
        "Rule",
        # First in the schema, so decoding names the mistake before writing the rule for it:
        # a small model tied to one mistake writes a concrete rule instead of general advice.
        fixes=(str, Field(..., max_length=RATIONALE_CHARS)),
        title=(str, Field(..., max_length=TITLE_CHARS)),
        rule=(str, Field(..., max_length=RULE_CHARS)),
        replaces=(section_type, None),
    )
    return create_model(
        "Rules",
        analysis=(str, Field(..., max_length=ANALYSIS_CHARS)),
        rules=(list[rule], Field(..., max_length=per_reply(max_rules))),  # type: ignore[valid-type]
    )


STEP_CHARS = 120
STEP_PATTERN = rf"^Write [^\n]{{3,{STEP_CHARS - 6}}}$"
MIN_STEPS, MAX_STEPS = 2, 5
PROCEDURE_HEADING = "Working steps"
# The target writes what a skill tells it to write, line by line; "think step by step" in prose
# it ignores (a 0.5B answers at once). A literal `Steps:` line it must write first is what makes
# it show its work, so the scaffold is fixed and only the steps come from the optimizer.
PROCEDURE_MARKER = "write `Steps:`"
PROCEDURE_OPENING = (
    f"Before the answer line, {PROCEDURE_MARKER} and then one numbered line for each step "
    "below, in order, each ending with what that step found:"
)
PROCEDURE_CLOSING = "Only after the last step, write the answer line."


class Procedure(BaseModel):
    """The reply of the procedure pass: the lines a solver writes before its answer."""

    # Each step a line the target writes: the pattern holds decoding to "Write …" (a small
    # model otherwise gives "Read the question carefully", which writes nothing).
    steps: list[Annotated[str, Field(pattern=STEP_PATTERN)]] = Field(
        ..., min_length=MIN_STEPS, max_length=MAX_STEPS
    )


@dataclass
class SectionProposal:
    """One optimizer pass that writes one section (the procedure, the facts): the messages,
    the answer, the edit when usable, and the refused lines with why."""

    messages: list[Message]
    answer: OptimizerAnswer
    edit: Edit | None = None
    invalid: list[dict[str, Any]] = field(default_factory=list)


def procedure_text(steps: Sequence[str]) -> str:
    """A procedure section: the fixed scaffold around the optimizer's steps."""
    lines = [f"## {PROCEDURE_HEADING}", PROCEDURE_OPENING]
    lines += [f"{i}. {' '.join(step.split()).rstrip('.')}." for i, step in enumerate(steps, 1)]
    lines.append(PROCEDURE_CLOSING)
    return "\n".join(lines)


EXAMPLE_HEADING = "Worked example"
# The closing line marks the section as the worked example (one per skill) and tells the
# target what to copy from it: the shape of the reply, not its content.
EXAMPLE_CLOSING = "Reply in the same way: your working, one line per step, then the answer line."
EXAMPLE_QUESTION_CHARS, EXAMPLE_LINES = 400, 6


class WorkedExample(BaseModel):
    """The reply of the example pass: a made-up question of the task's kind, solved."""

    question: str = Field(..., min_length=10, max_length=EXAMPLE_QUESTION_CHARS)
    working: list[Annotated[str, Field(min_length=1, max_length=STEP_CHARS)]] = Field(
        ..., min_length=1, max_length=EXAMPLE_LINES
    )
    answer: str = Field(..., min_length=1, max_length=60)


def example_text(example: WorkedExample) -> str:
    """A worked-example section: the made-up question, its working and answer line, and the
    fixed closing line."""
    lines = [f"## {EXAMPLE_HEADING}", f"Question: {' '.join(example.question.split())}", "Reply:"]
    lines += [" ".join(line.split()) for line in example.working if line.strip()]
    lines += [f"Answer: {' '.join(example.answer.split())}", "", EXAMPLE_CLOSING]
    return "\n".join(lines)


def example_section(section_bodies: Sequence[tuple[str, str]]) -> str | None:
    """The id of the section holding a worked example (see `example_text`), if any."""
    for section_id, body in section_bodies:
        if EXAMPLE_CLOSING in body:
            return section_id
    return None


def procedure_section(section_bodies: Sequence[tuple[str, str]]) -> str | None:
    """The id of the section holding a procedure (see `procedure_text`), if any."""
    for section_id, body in section_bodies:
        if PROCEDURE_MARKER in body:
            return section_id
    return None


def rules_to_edits(reply: BaseModel) -> tuple[list[Edit], list[dict[str, Any]]]:
    """Each rule becomes a section: added at the end, or replacing the section it names."""
    good: list[Edit] = []
    bad: list[dict[str, Any]] = []
    analysis = str(getattr(reply, "analysis", ""))[:RATIONALE_CHARS]
    for raw in getattr(reply, "rules", []):
        title = " ".join(str(raw.title).split()).lstrip("#").strip() or "Rule"
        body = str(raw.rule).strip()
        data = {
            "op": "replace" if raw.replaces else "add",
            "section": raw.replaces,
            "content": f"## {title}\n{body}",
            "rationale": str(raw.fixes).strip()[:RATIONALE_CHARS] or analysis,
        }
        try:
            good.append(Edit(**data))
        except (ValidationError, ValueError) as exc:
            bad.append({"edit": data, "reason": f"invalid edit: {exc}"})
    return good, bad


def per_reply(budget: int) -> int:
    """How many edits one optimizer reply may hold for a step with this budget."""
    return max(1, min(budget, MAX_EDITS_PER_REPLY))


class MetaNotes(BaseModel):
    notes: str = Field(..., max_length=1500)


def parroted(proposals: Any) -> str | None:
    """Why a reply must be asked again: every edit it proposes copies the instructions (what a
    small model does when it does not follow them). None when the reply is fine."""
    from skillfit.optim.prompting import boilerplate_needles
    from skillfit.skill import mentions_any

    edits = getattr(proposals, "edits", None) or getattr(proposals, "rules", [])
    contents = [str(getattr(e, "content", None) or getattr(e, "rule", "")) for e in edits]
    if contents and all(c and mentions_any(c, boilerplate_needles()) for c in contents):
        return "every edit copies the optimizer prompt"
    return None


def to_edits(proposals: BaseModel) -> tuple[list[Edit], list[dict[str, Any]]]:
    """Turn proposed edits into skill Edits; ones the Edit model refuses are returned apart."""
    good: list[Edit] = []
    bad: list[dict[str, Any]] = []
    for raw in getattr(proposals, "edits", []):
        data = raw.model_dump()
        try:
            good.append(Edit(**data))
        except (ValidationError, ValueError) as exc:
            bad.append({"edit": data, "reason": f"invalid edit: {exc}"})
    return good, bad


def _parse(text: str, schema: type[M]) -> M:
    try:
        return schema.model_validate_json(text)
    except ValidationError:
        # Providers without constrained decoding may wrap the JSON in prose or a code fence.
        start, end = text.find("{"), text.rfind("}")
        if start < 0 or end <= start:
            raise
        return schema.model_validate(json.loads(text[start : end + 1]))


def ask(
    model: ChatModel,
    messages: Sequence[Message],
    schema: type[M],
    *,
    max_tokens: int,
    temperature: float,
    retries: int,
    check: Callable[[Any], str | None] | None = None,
) -> OptimizerAnswer:
    """Call the optimizer until a reply validates against `schema` (1 + `retries` attempts).

    A retry uses another sample index and, at temperature 0, a warmer temperature: asking a
    deterministic model the same question again would only return the same bad reply.
    `check` may refuse a well-formed reply (returning why), which then counts as invalid."""
    answer = OptimizerAnswer()
    for attempt in range(1 + max(0, retries)):
        temp = temperature if attempt == 0 or temperature > 0 else 0.7
        record = Attempt(sample=attempt, temperature=temp)
        answer.attempts.append(record)
        try:
            reply = model.complete(
                messages,
                max_tokens=max_tokens,
                temperature=temp,
                response_format=schema,
                sample=attempt,
            )
        except InfraError as exc:  # includes SchemaValidationError from the provider
            record.error = f"{type(exc).__name__}: {exc}"
            continue
        record.raw = reply.text
        record.finish_reason = reply.finish_reason
        record.cached = reply.cached
        record.prompt_tokens = reply.usage.prompt_tokens
        record.completion_tokens = reply.usage.completion_tokens
        try:
            parsed = (
                reply.parsed if isinstance(reply.parsed, schema) else _parse(reply.text, schema)
            )
        except (ValidationError, ValueError) as exc:
            record.error = f"invalid reply: {str(exc)[:500]}"
            continue
        problem = check(parsed) if check is not None else None
        if problem:
            record.error = problem
            continue
        answer.parsed = parsed
        return answer
    return answer


@dataclass(frozen=True)
class OptimizerSettings:
    max_tokens: int = 1024
    temperature: float = 0.0
    retries: int = 2
    # `diagnose` only: while the skill has no procedure, one of the step's edits is a
    # procedure (the lines to write before the answer) written by its own call.
    procedure: bool = True
    # `diagnose` only: while the skill has no worked example, one of the step's edits is a
    # made-up question of the task's kind, solved line by line (see `ask_example`).
    example: bool = False
    # `diagnose` only: "train" to propose, while the skill holds fewer than three, one training
    # item the target got right, solved as its reply solved it, for its `## Examples` section
    # (see optim.examples; no optimizer call).
    examples: str = "off"
    # `diagnose` only: while the skill states no facts of the subject, one of the step's edits
    # is the facts a solver must know (see optim.knowledge).
    knowledge: bool = False

    def ask(
        self,
        optimizer: ChatModel,
        messages: list[Message],
        schema: type[BaseModel],
        check: Callable[[Any], str | None] | None = None,
    ) -> OptimizerAnswer:
        """`optimizer.ask` with these settings' token cap, temperature and retries."""
        return ask(
            optimizer,
            messages,
            schema,
            max_tokens=self.max_tokens,
            temperature=self.temperature,
            retries=self.retries,
            check=check,
        )

    @classmethod
    def from_config(cls, optimizer: Any) -> OptimizerSettings:
        """Settings from a run's `optimizer` config section (defaults for missing keys)."""
        return cls(
            max_tokens=int(getattr(optimizer, "max_tokens", cls.max_tokens)),
            temperature=float(getattr(optimizer, "temperature", cls.temperature)),
            retries=int(getattr(optimizer, "retries", cls.retries)),
            procedure=bool(getattr(optimizer, "procedure", cls.procedure)),
            example=bool(getattr(optimizer, "example", cls.example)),
            examples=str(getattr(optimizer, "examples", cls.examples)),
            knowledge=bool(getattr(optimizer, "knowledge", cls.knowledge)),
        )
