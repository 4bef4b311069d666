"""Scorers a config chooses for a file task (`task.options.scorer`).

    scorer: exact                                      # the name alone, or a mapping:
    scorer: {kind: numeric, tolerance: 0.01}
    scorer: {kind: python, function: grader.py:grade}
    scorer: {kind: judge, model: "openai:gpt-5.4-mini", rubric_file: rubric.md, samples: 3}

Every scorer reads the final answer the same way the bundled tasks do
(`skillfit.tasks.scoring.extract_answer`: the last `Answer:` line, with fallbacks) and returns a
`Score` whose `formatted` says whether the reply gave an answer in the asked form, apart from
whether the answer was right. A target given as a list (JSONL) accepts any of its answers.
"""

from __future__ import annotations

import inspect
import json
import math
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from skillfit.tasks.base import Item, Score, TaskDataError
from skillfit.tasks.common import TaskOptionError
from skillfit.tasks.plugins import import_task_modules
from skillfit.tasks.scoring import (
    Extraction,
    answer_letter,
    binary_score,
    choice_letter,
    feedback,
    format_note,
    normalize,
    parse_number,
    parse_options,
)
from skillfit.tasks.userfile.judge import JudgeScorer
from skillfit.tasks.userfile.scorer import Scorer, _expected, _targets, where

KINDS = ("exact", "numeric", "choice", "regex", "contains", "json_field", "python", "judge")


class _Binary(Scorer):
    """A right/wrong scorer: `check(answer, target, item)` -> (right, hint when ill-formed)."""

    def check(self, answer: str, target: Any, item: Item) -> tuple[bool, str]:
        raise NotImplementedError

    def __call__(self, item: Item, reply: str) -> tuple[str, Score]:
        ex = self.extraction(reply)
        ok, hint = False, ""
        for target in _targets(item.target):
            ok, hint = self.check(ex.answer, target, item)
            if ok:
                break
        return ex.answer, binary_score(
            ok,
            given=ex.answer,
            expected=_expected(item.target),
            extraction=ex,
            note="" if ok else hint,
            well_formed=not hint and ex.method != "empty",
        )


class Exact(_Binary):
    """Equal after normalizing: case, surrounding space, markdown marks, a final full stop."""

    kind = "exact"

    def __init__(self, *, extract: str = "answer_line", case_sensitive: bool = False) -> None:
        super().__init__(extract)
        self.case_sensitive = bool(case_sensitive)

    def check(self, answer: str, target: Any, item: Item) -> tuple[bool, str]:
        if self.case_sensitive:
            return " ".join(answer.split()).rstrip(".") == " ".join(str(target).split()), ""
        return normalize(answer) == normalize(str(target)), ""


class Numeric(_Binary):
    """The last number in the answer equals the target within `tolerance` (absolute) or
    `rel_tolerance` (relative)."""

    kind = "numeric"
    instructions = "End your reply with a final line of the form `Answer: <a number>`."

    def __init__(
        self, *, extract: str = "answer_line", tolerance: float = 0.0, rel_tolerance: float = 1e-6
    ) -> None:
        super().__init__(extract)
        for name, value in (("tolerance", tolerance), ("rel_tolerance", rel_tolerance)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise TaskOptionError(
                    f"file: scorer option {name} must be a number >= 0, got {value!r}"
                )
        self.tolerance, self.rel_tolerance = float(tolerance), float(rel_tolerance)

    def check(self, answer: str, target: Any, item: Item) -> tuple[bool, str]:
        got = parse_number(answer)
        want = float(target) if isinstance(target, int | float) else parse_number(str(target))
        if want is None:
            raise TaskDataError(f"{where(item)}: target {target!r} holds no number")
        if got is None:
            return False, "The answer should be a number."
        return math.isclose(got, want, rel_tol=self.rel_tolerance, abs_tol=self.tolerance), ""

    def target_problem(self, target: Any) -> str | None:
        bad = [
            t
            for t in _targets(target)
            if not isinstance(t, int | float) and parse_number(str(t)) is None
        ]
        return f"{_expected(bad[0])!r} holds no number" if bad else None

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "tolerance": self.tolerance, "rel_tolerance": self.rel_tolerance}


class Choice(_Binary):
    """A multiple-choice letter: "B", "(B)", "B) text" or the option's own text when the input
    lists "(A) ..." lines. The target is the letter ("B" or "(B)")."""

    kind = "choice"
    instructions = "End your reply with a final line of the form `Answer: (<letter>)`."

    @staticmethod
    def _letter(target: Any) -> str | None:
        text = str(target).strip()
        return choice_letter(text) or (text.upper() if re.fullmatch(r"[A-Za-z]", text) else None)

    def target_problem(self, target: Any) -> str | None:
        bad = [t for t in _targets(target) if self._letter(t) is None]
        return f"{_expected(bad[0])!r} is not an option letter (A or (A))" if bad else None

    def check(self, answer: str, target: Any, item: Item) -> tuple[bool, str]:
        want = self._letter(target)
        if want is None:
            raise TaskDataError(f"{where(item)}: target {target!r} is not an option letter")
        got = answer_letter(answer, parse_options(item.input))
        if got is None:
            return False, "The answer should name one option, e.g. '(A)'."
        return got == want, ""


class Regex(_Binary):
    """The answer matches a regular expression: `pattern` from the config, or else the item's
    target. `mode: full` (default) must match the whole answer, `search` anywhere in it."""

    kind = "regex"

    def __init__(
        self,
        *,
        extract: str = "answer_line",
        pattern: str | None = None,
        mode: str = "full",
        ignore_case: bool = True,
    ) -> None:
        super().__init__(extract)
        if mode not in ("full", "search"):
            raise TaskOptionError(f"file: regex scorer mode must be full or search, got {mode!r}")
        self.mode = mode
        self.flags = re.IGNORECASE if ignore_case else 0
        self.pattern = _compile(pattern, self.flags, "scorer option pattern") if pattern else None
        self.needs_target = pattern is None

    def check(self, answer: str, target: Any, item: Item) -> tuple[bool, str]:
        pattern = self.pattern or _compile(str(target), self.flags, f"{where(item)}: target")
        found = pattern.fullmatch(answer.strip()) if self.mode == "full" else pattern.search(answer)
        return found is not None, ""

    def target_problem(self, target: Any) -> str | None:
        if self.pattern is not None:
            return None
        for t in _targets(target):
            try:
                re.compile(str(t))
            except re.error as exc:
                return f"{str(t)!r} is not a valid regular expression: {exc}"
        return None

    def describe(self) -> dict[str, Any]:
        pat = self.pattern.pattern if self.pattern else None
        return {"kind": self.kind, "pattern": pat, "mode": self.mode}


def _compile(pattern: str, flags: int, what: str) -> re.Pattern[str]:
    try:
        return re.compile(pattern, flags)
    except re.error as exc:
        raise TaskDataError(
            f"{what} {pattern!r} is not a valid regular expression: {exc}"
        ) from None


class Contains(_Binary):
    """The target's text appears in the answer (both normalized, whole words)."""

    kind = "contains"

    def check(self, answer: str, target: Any, item: Item) -> tuple[bool, str]:
        want = normalize(str(target))
        found = re.search(rf"(?<!\w){re.escape(want)}(?!\w)", normalize(answer)) is not None
        return found, ""


_JSON_BLOCK = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)


def parse_json_answer(reply: str, answer: str) -> dict[str, Any] | None:
    """A JSON object from the answer line, else the last fenced JSON block, else the last
    {...} span of the reply."""
    candidates = [answer]
    candidates += [m.group(1) for m in reversed(list(_JSON_BLOCK.finditer(reply)))]
    start, end = reply.find("{"), reply.rfind("}")
    if 0 <= start < end:
        candidates.append(reply[start : end + 1])
    for text in candidates:
        try:
            obj = json.loads(text)
        except (json.JSONDecodeError, TypeError):
            continue
        if isinstance(obj, dict):
            return obj
    return None


class JsonField(Scorer):
    """The answer is a JSON object; the named `fields` (default: every field of the target)
    must equal the target's, each compared normalized (numbers as numbers). Soft credit is the
    share of fields right; solved when all are."""

    kind = "json_field"
    instructions = "End your reply with a final line of the form `Answer: <one JSON object>`."

    def __init__(
        self, *, extract: str = "answer_line", fields: list[str] | str | None = None
    ) -> None:
        super().__init__(extract)
        if isinstance(fields, str):
            fields = [f.strip() for f in fields.split(",") if f.strip()]
        if fields is not None and (
            not isinstance(fields, list) or not all(isinstance(f, str) for f in fields)
        ):
            raise TaskOptionError(f"file: json_field scorer fields must be names, got {fields!r}")
        self.fields = fields

    def target_problem(self, target: Any) -> str | None:
        try:
            self._target(Item("", "", target))
        except TaskDataError:
            return "not a JSON object"
        return None

    def _target(self, item: Item) -> dict[str, Any]:
        target = item.target
        if isinstance(target, str):
            try:
                target = json.loads(target)
            except json.JSONDecodeError:
                target = None
        if not isinstance(target, dict):
            raise TaskDataError(f"{where(item)}: the json_field scorer needs a JSON object target")
        return target

    @staticmethod
    def _same(got: Any, want: Any) -> bool:
        if isinstance(want, int | float) and not isinstance(want, bool):
            number = got if isinstance(got, int | float) else parse_number(str(got))
            return number is not None and math.isclose(float(number), float(want), rel_tol=1e-6)
        if isinstance(want, list | dict):
            return json.dumps(got, sort_keys=True) == json.dumps(want, sort_keys=True)
        return normalize(str(got)) == normalize(str(want))

    def __call__(self, item: Item, reply: str) -> tuple[str, Score]:
        target = self._target(item)
        fields = self.fields or list(target)
        ex = self.extraction(reply)
        obj = parse_json_answer(reply, ex.answer)
        if obj is None:
            text = feedback(
                correct=False,
                given=ex.answer,
                expected=json.dumps(target, ensure_ascii=False),
                extraction=ex,
                note="The answer should be one JSON object.",
            )
            return ex.answer, Score(0, 0.0, text, formatted=False)
        wrong = [f for f in fields if f not in obj or not self._same(obj[f], target.get(f))]
        right = len(fields) - len(wrong)
        soft = right / len(fields) if fields else 1.0
        note = f"Fields wrong or missing: {', '.join(wrong)}." if wrong else ""
        text = feedback(
            correct=not wrong,
            given=json.dumps(obj, ensure_ascii=False),
            expected=json.dumps({f: target.get(f) for f in fields}, ensure_ascii=False),
            extraction=ex,
            note=note,
        )
        return ex.answer, Score(int(not wrong), soft, text, formatted=ex.format_ok)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "fields": self.fields}


# --- the user's own function -----------------------------------------------------------------

_PARAMS = ("answer", "target", "item", "reply", "input", "meta")


def load_function(spec: str, base_dir: Path | None) -> Callable[..., Any]:
    """`file.py:function` (a path, relative to the config's folder) or `package.module:fn`."""
    module_part, sep, name = spec.rpartition(":")
    if not sep or not module_part or not name.isidentifier():
        raise TaskOptionError(
            f"file: scorer function must look like grader.py:grade or my_pkg.grading:grade, "
            f"got {spec!r}"
        )
    module = import_task_modules([module_part], base_dir)[0]
    fn = getattr(module, name, None)
    if not callable(fn):
        raise TaskOptionError(f"file: {module_part} has no function {name!r}")
    return fn


class Python(Scorer):
    """The user's function. It takes any of the parameters `answer` (the extracted final
    answer), `target`, `item` (the Item), `reply` (the whole reply), `input` and `meta` (the
    row's other fields), by name, and returns one of: a bool; a number in [0, 1] (solved when
    at least `pass_threshold`); a (bool-or-number, feedback) pair; a dict with `score` and
    optionally `feedback`; or a `Score`."""

    kind = "python"

    def __init__(
        self,
        *,
        function: str,
        base_dir: Path | None = None,
        extract: str = "answer_line",
        pass_threshold: float = 1.0,
        needs_target: bool = True,
    ) -> None:
        super().__init__(extract)
        self.spec = function
        self.fn = load_function(function, base_dir)
        self.pass_threshold = float(pass_threshold)
        self.needs_target = bool(needs_target)
        params = inspect.signature(self.fn).parameters
        takes_all = any(p.kind is p.VAR_KEYWORD for p in params.values())
        self.params = list(_PARAMS) if takes_all else [p for p in params if p in _PARAMS]
        unknown = [
            p
            for p, v in params.items()
            if p not in _PARAMS
            and v.default is v.empty
            and v.kind not in (v.VAR_KEYWORD, v.VAR_POSITIONAL)
        ]
        if unknown:
            raise TaskOptionError(
                f"file: scorer {function}: parameter(s) {', '.join(unknown)} unknown; a scorer "
                f"function may take {', '.join(_PARAMS)}"
            )

    def __call__(self, item: Item, reply: str) -> tuple[str, Score]:
        ex = self.extraction(reply)
        values = {
            "answer": ex.answer,
            "target": item.target,
            "item": item,
            "reply": reply,
            "input": item.input,
            "meta": dict(item.meta),
        }
        try:
            out = self.fn(**{p: values[p] for p in self.params})
        except Exception as exc:
            raise TaskDataError(
                f"scorer {self.spec} raised {type(exc).__name__} on {where(item)}: {exc}"
            ) from exc
        return ex.answer, self._score(out, item, ex)

    def _score(self, out: Any, item: Item, ex: Extraction) -> Score:
        if isinstance(out, Score):
            return out
        note = ""
        if isinstance(out, dict):
            note = str(out.get("feedback", ""))
            out = out.get("score")
        elif isinstance(out, tuple) and len(out) == 2:
            out, note = out[0], str(out[1])
        if isinstance(out, bool | int | float) and 0.0 <= float(out) <= 1.0:
            soft = float(out)
        else:
            raise TaskDataError(
                f"scorer {self.spec} returned {out!r} for {where(item)}: return a bool, a "
                "number in [0, 1], (score, feedback), {'score': ..., 'feedback': ...} or a Score"
            )
        hard = int(soft >= self.pass_threshold)
        parts = ["Correct." if hard else "Wrong."]
        if item.target is not None:
            parts.append(f"Expected: {_expected(item.target)[:160]!r}.")
        parts.append(f"Given: {ex.answer[:160]!r}.")
        if fmt := format_note(ex):
            parts.append(fmt)
        if note:
            parts.append(note)
        return Score(hard, soft, " ".join(parts), formatted=ex.format_ok)

    def describe(self) -> dict[str, Any]:
        return {"kind": self.kind, "function": self.spec, "pass_threshold": self.pass_threshold}


# --- choosing ------------------------------------------------------------------------------


def build_scorer(spec: Any, *, base_dir: Path | None = None) -> Scorer:
    """A scorer from the config's `scorer` value: a kind name, or a mapping with `kind` and the
    kind's settings."""
    if spec is None:
        spec = "exact"
    if isinstance(spec, str):
        if ":" in spec and spec.split(":", 1)[0] not in KINDS:  # "grader.py:grade" shorthand
            spec = {"kind": "python", "function": spec}
        else:
            spec = {"kind": spec}
    if not isinstance(spec, Mapping):
        raise TaskOptionError(f"file: option scorer must be a name or a mapping, got {spec!r}")
    settings = dict(spec)
    kind = str(settings.pop("kind", "exact"))
    settings.pop("base_dir", None)
    makers: dict[str, Callable[..., Scorer]] = {
        "exact": Exact,
        "numeric": Numeric,
        "choice": Choice,
        "regex": Regex,
        "contains": Contains,
        "json_field": JsonField,
        "python": lambda **kw: Python(base_dir=base_dir, **kw),
    }
    if kind == "judge":
        makers["judge"] = lambda **kw: JudgeScorer(base_dir=base_dir, **kw)
    maker = makers.get(kind)
    if maker is None:
        raise TaskOptionError(f"file: unknown scorer kind {kind!r}; choose from {', '.join(KINDS)}")
    try:
        return maker(**settings)
    except TypeError as exc:
        allowed = _settings_of(kind)
        raise TaskOptionError(
            f"file: scorer {kind}: {exc}; its settings are: {', '.join(allowed) or '(none)'}"
        ) from None


def _settings_of(kind: str) -> list[str]:
    cls: Any = {
        "exact": Exact,
        "numeric": Numeric,
        "choice": Choice,
        "regex": Regex,
        "contains": Contains,
        "json_field": JsonField,
        "python": Python,
        "judge": JudgeScorer,
    }[kind]
    params = inspect.signature(cls.__init__).parameters
    return [p for p in params if p not in ("self", "base_dir")]
