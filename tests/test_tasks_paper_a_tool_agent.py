"""The reusable tool-using agent harness (harness/tool_loop.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from skillfit.harness.tool_loop import (
    Tool,
    ToolError,
    action_schema,
    describe_tools,
    run_tool_agent,
)
from skillfit.models.scripted import Request, ScriptedModel


def _add(args: dict[str, Any]) -> str:
    return str(int(args["a"]) + int(args["b"]))


def _fail(args: dict[str, Any]) -> str:
    raise ToolError("no such record")


ADD = Tool(
    "add",
    "add two integers",
    {"properties": {"a": {"type": "integer"}, "b": {"type": "integer"}}, "required": ["a", "b"]},
    _add,
)
FAIL = Tool("lookup", "look a record up", {"properties": {}}, _fail)


def _replies(texts: list[str]) -> ScriptedModel:
    def fn(request: Request) -> str:
        step = sum(1 for m in request.messages if m["role"] == "assistant")
        return texts[min(step, len(texts) - 1)]

    return ScriptedModel(fn)


def test_schema_couples_each_tool_with_its_arguments() -> None:
    schema = action_schema([ADD, FAIL])
    options = schema["properties"]["action"]["anyOf"]
    assert [o["properties"]["tool"]["enum"] for o in options] == [["add"], ["lookup"], ["answer"]]
    add_args = options[0]["properties"]["args"]
    assert add_args["required"] == ["a", "b"] and add_args["additionalProperties"] is False
    final = action_schema([ADD], final=True)["properties"]["action"]
    assert final["properties"]["tool"]["enum"] == ["answer"]
    text = describe_tools([ADD])
    assert (
        "add(a: integer, b: integer): add two integers" in text and "answer(answer: string)" in text
    )


def test_tool_results_and_errors_go_back_to_the_model() -> None:
    model = _replies(
        [
            json.dumps({"act": "add"}),
            json.dumps({"action": {"tool": "nope", "args": {}}}),
            json.dumps({"action": {"tool": "lookup", "args": {}}}),
            json.dumps({"action": {"tool": "add", "args": {"a": "x", "b": 1}}}),
            json.dumps({"action": {"tool": "add", "args": {"a": 2, "b": 3}}}),
            json.dumps({"action": {"tool": "answer", "args": {"answer": "5"}}}),
        ]
    )
    run = run_tool_agent(model, system="sys", user="what is 2+3?", tools=[ADD, FAIL], max_steps=8)
    assert run.answer == "5" and run.stopped == "answer" and run.steps == 6
    calls = run.tool_calls
    assert [c["tool"] for c in calls] == [None, "nope", "lookup", "add", "add", "answer"]
    assert [c["ok"] for c in calls] == [False, False, False, False, True, True]
    assert 'expected {"action"' in calls[0]["result"]
    assert "unknown tool 'nope'" in calls[1]["result"]
    assert calls[2]["result"] == "Error: no such record"
    assert "bad arguments for add" in calls[3]["result"]
    assert calls[4]["result"] == "5"
    assert "Result of add:\n5" in run.messages[-2]["content"]
    assert run.usage.completion_tokens == sum(
        max(1, len(t) // 4)
        for t in (m["content"] for m in run.messages if m["role"] == "assistant")
    )


def test_long_results_are_cut() -> None:
    big = Tool("dump", "print a lot", {}, lambda args: "x" * 10_000)
    model = _replies(
        [
            json.dumps({"action": {"tool": "dump", "args": {}}}),
            json.dumps({"action": {"tool": "answer", "args": {"answer": "ok"}}}),
        ]
    )
    run = run_tool_agent(model, system="s", user="u", tools=[big], max_result_chars=100)
    assert run.tool_calls[0]["result"].endswith("[... cut at 100 characters]")
    assert len(run.tool_calls[0]["result"]) < 200


def test_a_tool_named_answer_is_refused() -> None:
    clash = Tool("answer", "oops", {}, lambda args: "")
    with pytest.raises(ValueError, match="may not be called"):
        run_tool_agent(ScriptedModel(lambda r: ""), system="s", user="u", tools=[clash])
    with pytest.raises(ValueError, match="max_steps"):
        run_tool_agent(ScriptedModel(lambda r: ""), system="s", user="u", tools=[], max_steps=0)


def test_single_step_run_allows_only_the_answer() -> None:
    model = _replies([json.dumps({"action": {"tool": "answer", "args": {"answer": 7}}})])
    run = run_tool_agent(model, system="s", user="u", tools=[ADD], max_steps=1)
    assert run.answer == "7"
    sent = model.calls[0].response_format
    assert isinstance(sent, dict) and "anyOf" not in json.dumps(sent)


def test_schema_failure_is_an_infrastructure_error() -> None:
    # A provider that cannot get a schema-valid reply after retries raises SchemaValidationError
    # (an InfraError): the run stops and reports it instead of scoring a wrong answer.
    model = _replies(
        [json.dumps({"action": {"tool": "add", "args": {"a": 1, "b": 1}}}), "not json"]
    )
    run = run_tool_agent(model, system="s", user="u", tools=[ADD])
    assert run.answer is None and run.stopped == "infra_error"
    assert run.error is not None and "SchemaValidationError" in run.error
    assert [c["tool"] for c in run.tool_calls] == ["add"] and run.steps == 1


def test_repeated_calls_are_pointed_out() -> None:
    again = json.dumps({"action": {"tool": "add", "args": {"a": 1, "b": 2}}})
    model = _replies(
        [again, again, json.dumps({"action": {"tool": "answer", "args": {"answer": "3"}}})]
    )
    run = run_tool_agent(model, system="s", user="u", tools=[ADD])
    first, second = run.tool_calls[:2]
    assert first["result"] == "3"
    assert second["result"].startswith("(Same call as step 1") and second["result"].endswith("3")


def test_old_results_are_elided_to_fit_the_context_budget() -> None:
    page = Tool(
        "page",
        "a long page",
        {"properties": {"n": {"type": "integer"}}, "required": ["n"]},
        lambda args: f"page {args['n']} " + "x" * 1000,
    )
    actions = [json.dumps({"action": {"tool": "page", "args": {"n": n}}}) for n in range(4)]
    model = _replies(
        [*actions, json.dumps({"action": {"tool": "answer", "args": {"answer": "done"}}})]
    )
    run = run_tool_agent(model, system="s", user="u", tools=[page], max_context_chars=2500)
    assert run.answer == "done"
    sizes = [sum(len(m["content"]) for m in call.messages) for call in model.calls]
    assert max(sizes) <= 2500 + 1100  # the latest result is always kept whole
    last_sent = model.calls[-1].messages
    assert "page 3 " in last_sent[-1]["content"]
    assert any(m["content"].startswith("[elided") for m in last_sent)
    # earlier requests keep what they actually sent, and every full result stays in tool_calls
    assert "page 0 " in model.calls[1].messages[3]["content"]
    assert [c["result"][:7] for c in run.tool_calls[:4]] == [
        "page 0 ",
        "page 1 ",
        "page 2 ",
        "page 3 ",
    ]
