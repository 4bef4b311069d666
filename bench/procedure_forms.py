"""Does the target follow a procedure, and in which form? One model, no training.

    nice python bench/procedure_forms.py [--task gsm8k] [--n 24] [--target local:qwen2.5-coder-0.5b]

Asks the target the first N validation items of a task (the suite's splits: 32/40/60, seed 0)
three ways and prints accuracy, median reply length and how often a reply copies a step's own
text instead of doing it:
- `none`: the task's answer instruction only;
- `numbered`: the training loop's procedure section (skillfit.optim.optimizer.procedure_text)
  with three general steps ("Write each quantity the question gives…");
- `inline`: the same steps as one sentence ("Work in this order: …");
- `first`: the numbered section opening with "Begin your reply with the line `Steps:`" instead
  of "Before the answer line, write `Steps:`".
`--initial` puts the task's human-written skill before each form (as a trained skill has it);
`--steps "Write …|Write …"` replaces the three general steps. Also printed: how many replies
write `Steps:` before their first `Answer:` line.
"""

from __future__ import annotations

import argparse
import statistics
from concurrent.futures import ThreadPoolExecutor

from skillfit.models.registry import get_model
from skillfit.optim.optimizer import PROCEDURE_MARKER, procedure_text
from skillfit.tasks.registry import get_task

STEPS = [
    "Write each quantity the question gives, with what it counts",
    "Write each calculation with its result",
    "Write the result the question asks for",
]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default="gsm8k")
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--target", default="local:qwen2.5-coder-0.5b")
    parser.add_argument("--max-tokens", type=int, default=384)
    parser.add_argument("--initial", action="store_true", help="the task's skill before each form")
    parser.add_argument("--steps", default="", help='"Write …|Write …" instead of the defaults')
    parser.add_argument("--forms", default="none,numbered,inline,first")
    args = parser.parse_args()
    steps = [s.strip() for s in args.steps.split("|") if s.strip()] or STEPS

    task = get_task(args.task, n_train=32, n_val=40, n_test=60, seed=0)
    items = list(task.splits()["val"])[: args.n]
    model = get_model(args.target)
    instructions = getattr(task, "instructions", "")
    inline = (
        "## Working steps\nBefore the answer line, write `Steps:` and then your work, one short "
        "line per step, each with its result. Work in this order: "
        + "; ".join(s[0].lower() + s[1:] for s in steps)
        + ".\nOnly after the last step, write the answer line."
    )
    numbered = procedure_text(steps)
    first = numbered.replace(
        f"Before the answer line, {PROCEDURE_MARKER}", "Begin your reply with the line `Steps:`"
    )
    initial = getattr(task, "initial_skill", "")
    base = (initial() if callable(initial) else initial) if args.initial else ""
    forms = {"none": "", "numbered": numbered, "inline": inline, "first": first}
    forms = {k: "\n\n".join(p for p in (base, v) if p) for k, v in forms.items()}
    forms = {k: forms[k] for k in args.forms.split(",")}
    print(f"{args.task}, first {len(items)} validation items, target {args.target}")
    for name, skill in forms.items():

        def ask(item, skill=skill):  # type: ignore[no-untyped-def]
            system = "\n\n".join(p for p in (skill, instructions) if p)
            reply = model.complete(
                [{"role": "system", "content": system}, {"role": "user", "content": item.input}],
                max_tokens=args.max_tokens,
                temperature=0.0,
            )
            tokens = reply.usage.completion_tokens if reply.usage else 0
            return task.score(item, reply.text)[1].hard, tokens, reply.text

        with ThreadPoolExecutor(4) as pool:
            rows = list(pool.map(ask, items))
        copied = sum(1 for _, _, text in rows if steps[0][:25] in text)
        worked = sum(1 for _, _, text in rows if 0 <= text.find("Steps:") < _answer_at(text))
        print(
            f"{name:9s} {sum(r[0] for r in rows)}/{len(rows)} right, median reply "
            f"{statistics.median(r[1] for r in rows):.0f} tokens, "
            f"{copied} replies copy a step's text, {worked} write Steps: before the answer"
        )


def _answer_at(text: str) -> int:
    at = text.find("Answer:")
    return len(text) if at < 0 else at


if __name__ == "__main__":
    main()
