"""A small project for `skillfit check` tests: a `file` task, a skill in git, and a scripted
target (`scripted:rules.json`) that answers right only when the skill holds RULE."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

RULE = "- Give the capital city, not the country's largest city."
SKILL = f"# Capitals\n\nAnswer with one city name.\n\n## Rules\n\n{RULE}\n"
QUESTIONS = [
    ("Australia", "Canberra", "Sydney"),
    ("Canada", "Ottawa", "Toronto"),
    ("Turkey", "Ankara", "Istanbul"),
    ("Brazil", "Brasilia", "Sao Paulo"),
    ("Switzerland", "Bern", "Zurich"),
    ("Nigeria", "Abuja", "Lagos"),
    ("Morocco", "Rabat", "Casablanca"),
    ("Vietnam", "Hanoi", "Ho Chi Minh City"),
    ("New Zealand", "Wellington", "Auckland"),
    ("Pakistan", "Islamabad", "Karachi"),
    ("India", "New Delhi", "Mumbai"),
    ("South Africa", "Pretoria", "Johannesburg"),
    ("Tanzania", "Dodoma", "Dar es Salaam"),
    ("Kazakhstan", "Astana", "Almaty"),
    ("Bolivia", "Sucre", "Santa Cruz"),
    ("Ecuador", "Quito", "Guayaquil"),
]


def git(root: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-C", str(root), *args], capture_output=True, text=True, check=True
    )
    return done.stdout


def make_project(root: Path) -> Path:
    """Write data.jsonl (4 train / 6 val / 6 test), rules.json, skillfit.yaml and
    skills/capitals/SKILL.md into `root`, and commit them to a new git repository."""
    root.mkdir(parents=True, exist_ok=True)
    rows, rules = [], []
    for i, (country, capital, big) in enumerate(QUESTIONS):
        split = "train" if i < 4 else "val" if i < 10 else "test"
        question = f"What is the capital of {country}?"
        rows.append({"id": f"q{i:02d}", "question": question, "answer": capital, "split": split})
        rules.append(
            {
                "match": re.escape(question),
                "system": "capital city, not",
                "reply": f"Answer: {capital}",
            }
        )
        rules.append({"match": re.escape(question), "reply": f"Answer: {big}"})
    (root / "data.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    (root / "rules.json").write_text(json.dumps(rules, indent=1))
    (root / "skillfit.yaml").write_text(
        "task:\n"
        "  name: file\n"
        "  options: {path: data.jsonl, input: question, target: answer, id: id, split: split}\n"
        "target: {model: 'scripted:rules.json'}\n"
        "optimizer: {model: 'scripted:rules.json'}\n"
    )
    skill_dir = root / "skills" / "capitals"
    skill_dir.mkdir(parents=True, exist_ok=True)
    (skill_dir / "SKILL.md").write_text(
        "---\nname: capitals\ndescription: Answer questions about capital cities.\n---\n" + SKILL
    )
    git(root, "init", "-q", "-b", "main")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "add", "-A")
    git(root, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "skill")
    return skill_dir


def break_skill(skill_dir: Path) -> None:
    """Remove RULE from the skill in the working tree (the edit that makes it worse)."""
    path = skill_dir / "SKILL.md"
    path.write_text(path.read_text().replace(RULE + "\n", "- Be brief.\n"))
