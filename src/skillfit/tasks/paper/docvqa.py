"""DocVQA (Mathew et al. 2021) as used in the SkillOpt paper: answer a question about a scanned
document page. The page goes to the model as an image, so the target must be vision capable.
Scored by ANLS (threshold 0.5) as soft credit; hard credit is an exact normalized match.

Split directory items: `{"id", "question", "answers": [str, ...], "image_path"}` with
`image_path` relative to the split directory (or absolute); optional `docId`, `questionId`,
`question_types`, `ucsf_document_id`, `ucsf_document_page_no`.
Raw release: https://huggingface.co/datasets/lmms-lab/DocVQA (config DocVQA,
`DocVQA/validation-*.parquet`, needs pyarrow), or the official https://rrc.cvc.uab.es/?ch=17
`val_v1.0*.json` with its `documents/` images.
"""

from __future__ import annotations

import base64
import mimetypes
import os
import re
import time
from pathlib import Path
from typing import Any

from rapidfuzz.distance import Levenshtein

from skillfit.models.base import ChatModel, InfraError, Message
from skillfit.tasks.base import Item, Score, SplitName, TaskDataError, Trajectory
from skillfit.tasks.common import ANSWER_INSTRUCTION, SingleTurnTask, check_seed
from skillfit.tasks.messages import system_text
from skillfit.tasks.paper.common import (
    MaterializeResult,
    find_raw_files,
    iter_rows,
    load_manifest,
    load_split_dir,
    missing_items,
    missing_raw,
    paper_splits,
    register_materializer,
    require_raw_dir,
    require_split_dir,
    write_split_dir,
)
from skillfit.tasks.registry import register_task
from skillfit.tasks.scoring import extract_answer, format_note

NAME = "docvqa"
MANIFEST = "docvqa_id_split"
PUBLISHED = (
    "https://huggingface.co/datasets/lmms-lab/DocVQA (DocVQA/validation-*.parquet) or "
    "https://rrc.cvc.uab.es/?ch=17 (val_v1.0.json + documents/)"
)
ANLS_THRESHOLD = 0.5

INSTRUCTIONS = (
    "Answer the question about the attached document image. The answer is usually a short span "
    "copied from the document. " + ANSWER_INSTRUCTION
)

INITIAL_SKILL = """# DocVQA

## Reading the page
- Find the field, table cell or line the question refers to before answering.

## Answer format
- Copy the answer text exactly as printed (same spelling, numbers and units); no sentence.
"""


class VisionUnsupportedError(ValueError):
    """The target model cannot take images, so it cannot do DocVQA."""


# ----------------------------------------------------------------------------- scoring


def _anls_normalize(text: str) -> str:
    return " ".join(text.strip().lower().split())


def anls(prediction: str, golds: list[str], threshold: float = ANLS_THRESHOLD) -> float:
    """Average Normalized Levenshtein Similarity of one prediction: the best over the gold
    answers of 1 - normalized edit distance, counted as 0 when the distance reaches
    `threshold` (Biten et al. 2019)."""
    pred = _anls_normalize(prediction)
    best = 0.0
    for gold in golds:
        g = _anls_normalize(gold)
        if not pred and not g:
            return 1.0
        dist = Levenshtein.normalized_distance(pred, g)
        best = max(best, 1.0 - dist if dist < threshold else 0.0)
    return best


def score_reply(item: Item, reply: str) -> tuple[str, Score]:
    extraction = extract_answer(reply)
    golds: list[str] = list(item.target)
    soft = anls(extraction.answer, golds)
    hard = int(any(_anls_normalize(extraction.answer) == _anls_normalize(g) for g in golds))
    if hard:
        head = "Correct."
    elif soft > 0:
        head = f"Close but not exact (ANLS {soft:.2f}): check spelling, digits and extra words."
    else:
        head = "Wrong (ANLS 0)."
    parts = [
        head,
        f"Expected one of: {golds[:5]!r}.",
        f"Given: {extraction.answer!r}." if extraction.answer else "Given: nothing.",
    ]
    note = format_note(extraction)
    if note:
        parts.append(note)
    return extraction.answer, Score(hard=hard, soft=soft, feedback=" ".join(parts))


# ----------------------------------------------------------------------------- vision check

_VISION_NAMES = re.compile(
    r"gpt-4o|gpt-4\.1|gpt-4-turbo|gpt-4-vision|gpt-5|\bo[134]\b|\bo[134]-|claude|gemini|"
    r"vision|[-_.]vl\b|[-_.]vl[-_.]|llava|pixtral|minicpm-v|internvl|qwen.*vl|moondream|smolvlm",
    re.IGNORECASE,
)


def accepts_images(model: ChatModel) -> bool:
    """Whether `model` takes image content parts: its own `supports_images` flag when it has
    one, else a guess from its name (known vision model families)."""
    flag = getattr(model, "supports_images", None)
    if isinstance(flag, bool):
        return flag
    return bool(_VISION_NAMES.search(model.name))


def image_part(path: Path, model_name: str) -> dict[str, Any]:
    """The page as a content part: the Anthropic Messages block for `anthropic:` models, the
    OpenAI chat `image_url` part (a base64 data URI) for every other provider."""
    mime = mimetypes.guess_type(path.name)[0] or "image/png"
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    if model_name.startswith("anthropic:"):
        return {"type": "image", "source": {"type": "base64", "media_type": mime, "data": data}}
    return {"type": "image_url", "image_url": {"url": f"data:{mime};base64,{data}"}}


class DocVQATask(SingleTurnTask):
    """DocVQA: single turn, the page image sent as an OpenAI-style `image_url` content part.
    Its own loop: environments carry no images yet, so it runs under the chat harness only."""

    uses_harness = False

    def __init__(self, *, vision: bool | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.vision = vision

    def rollout(self, model: ChatModel, skill: str, item: Item, *, sample: int = 0) -> Trajectory:
        if not (self.vision if self.vision is not None else accepts_images(model)):
            raise VisionUnsupportedError(
                f"docvqa sends each document page as an image, and the target model "
                f"{model.name!r} is not known to accept images. Use a vision-capable target "
                "(for example openai:gpt-4o-mini), or pass the task option vision=True if this "
                "model does take images."
            )
        image = Path(item.meta["image_path"])
        system = system_text(skill, self.instructions)
        # `Message.content` is typed as text: the provider receives the content-part list as is,
        # and the recorded copy carries a placeholder instead of the base64 payload.
        parts = [{"type": "text", "text": item.input}, image_part(image, model.name)]
        sent: list[Message] = [
            {"role": "system", "content": system},
            {"role": "user", "content": parts},  # type: ignore[typeddict-item]
        ]
        record: list[Message] = [
            {"role": "system", "content": system},
            {"role": "user", "content": f"{item.input}\n[image: {image.name}]"},
        ]
        start = time.perf_counter()
        try:
            reply = model.complete(sent, max_tokens=self.max_tokens, sample=sample)
        except InfraError as exc:
            return Trajectory(
                item_id=item.id,
                messages=record,
                error=f"{type(exc).__name__}: {exc}",
                seconds=time.perf_counter() - start,
                sample=sample,
            )
        answer, score = score_reply(item, reply.text)
        return Trajectory(
            item_id=item.id,
            messages=[*record, {"role": "assistant", "content": reply.text}],
            answer=answer,
            score=score,
            usage=reply.usage,
            seconds=time.perf_counter() - start,
            sample=sample,
        )


# ----------------------------------------------------------------------------- loading


def load_items(
    split_dir: str | os.PathLike[str], image_root: str | os.PathLike[str] | None = None
) -> dict[SplitName, list[Item]]:
    """Items of a split directory; relative image paths resolve against `image_root` (default:
    the split directory itself)."""
    root = Path(split_dir)
    base = Path(image_root).expanduser() if image_root is not None else root
    rows = load_split_dir(
        root, task=NAME, required={"question": str, "answers": list, "image_path": str}
    )
    out: dict[SplitName, list[Item]] = {}
    for split, split_rows in rows.items():
        items = []
        for row in split_rows:
            where = f"{root / split / 'items.json'} (id {row['id']!r})"
            answers = row["answers"]
            if not answers or not all(isinstance(a, str) for a in answers):
                raise TaskDataError(f"{where}: 'answers' must be a non-empty list of strings")
            image = Path(row["image_path"])
            image = image if image.is_absolute() else base / image
            if not image.is_file():
                raise TaskDataError(f"{where}: image {image} not found")
            items.append(
                Item(
                    id=row["id"],
                    input=f"Question: {row['question']}",
                    target=list(answers),
                    meta={
                        "image_path": str(image),
                        "question": row["question"],
                        "doc_id": str(row.get("docId", "")),
                        "question_types": row.get("question_types") or [],
                    },
                )
            )
        out[split] = items
    return out


def make_task(
    *,
    split_dir: str | None = None,
    n_train: int | None = None,
    n_val: int | None = None,
    n_test: int | None = None,
    seed: int = 0,
    max_tokens: int = 256,
    vision: bool | None = None,
    image_root: str | None = None,
) -> DocVQATask:
    """DocVQA on the paper's splits. `vision` overrides the guess of whether the target model
    accepts images; `image_root` is where relative `image_path`s start (default: the split
    directory; the reference implementation's own split files need its repository root)."""
    root = require_split_dir(NAME, split_dir)
    items = load_items(root, image_root)
    splits, options = paper_splits(
        NAME, root, items, n_train, n_val, n_test, image_root=image_root, vision=vision
    )
    return DocVQATask(
        name=NAME,
        splits=splits,
        score=score_reply,
        instructions=INSTRUCTIONS,
        initial_skill=INITIAL_SKILL,
        options=options,
        seed=check_seed(NAME, seed),
        max_tokens=max_tokens,
        vision=vision,
    )


# ----------------------------------------------------------------------------- materializer


def _image_bytes(value: Any, base: Path) -> bytes | None:
    """Image bytes from a parquet image cell ({"bytes", "path"}) or a path relative to `base`."""
    if isinstance(value, dict):
        if value.get("bytes"):
            return bytes(value["bytes"])
        value = value.get("path")
    if isinstance(value, str) and value:
        for candidate in (base / value, base / "documents" / Path(value).name):
            if candidate.is_file():
                return candidate.read_bytes()
    return None


def materialize(
    raw_dir: Path, out_dir: Path, manifest_dir: str | os.PathLike[str] | None = None
) -> MaterializeResult:
    """Join the paper's DocVQA ids (= questionId) with the raw validation release; page images
    are written to `<out>/images/`."""
    manifest = load_manifest(MANIFEST, manifest_dir)
    raw = require_raw_dir(raw_dir, NAME, "the DocVQA validation files", PUBLISHED)
    files = [
        p
        for p in find_raw_files(raw, ["*.parquet", "val*.json", "*.jsonl"])
        if "test" not in p.name.lower() and "train" not in p.name.lower()
    ]
    if not files:
        raise missing_raw(
            NAME, raw, ["DocVQA/validation-*.parquet (or val_v1.0.json + documents/)"], PUBLISHED
        )
    wanted = {row["id"]: row for rows in manifest.splits.values() for row in rows}
    found: dict[str, dict[str, Any]] = {}
    images = out_dir / "images"
    images.mkdir(parents=True, exist_ok=True)
    for path in files:
        for raw_row in iter_rows(path):
            qid = str(raw_row.get("questionId", "")) if isinstance(raw_row, dict) else ""
            if qid not in wanted or qid in found:
                continue
            data = _image_bytes(raw_row.get("image"), path.parent)
            if data is None:
                continue  # counted as missing below, with the image named
            hint = wanted[qid]
            name = Path(str(hint.get("image_path") or f"q{qid}_d{raw_row.get('docId')}.png")).name
            (images / name).write_bytes(data)
            found[qid] = {
                "id": qid,
                "questionId": qid,
                "question": str(raw_row.get("question", "")),
                "answers": [str(a) for a in raw_row.get("answers") or []],
                "image_path": f"images/{name}",
                "docId": str(raw_row.get("docId", "")),
                "question_types": list(raw_row.get("question_types") or []),
                "ucsf_document_id": str(raw_row.get("ucsf_document_id", "")),
                "ucsf_document_page_no": str(raw_row.get("ucsf_document_page_no", "")),
            }
    missing = [qid for qid in wanted if qid not in found]
    if missing:
        named = [f"questionId {q} (with its page image)" for q in missing]
        raise missing_items(NAME, raw, named, len(wanted), files, PUBLISHED)
    return write_split_dir(out_dir, manifest.select(found))


register_task(
    NAME,
    make_task,
    description="DocVQA (SkillOpt paper splits): question on a page image; ANLS; needs a vision target",
)
register_materializer(NAME, materialize)
