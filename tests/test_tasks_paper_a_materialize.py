"""Paper benchmarks: materializing split directories from raw releases plus manifests."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from PIL import Image
from typer.testing import CliRunner

from skillfit.cli import app
from skillfit.tasks.base import TaskDataError
from skillfit.tasks.paper import MissingRawDataError, materializable, materialize
from skillfit.tasks.paper.common import MANIFEST_ROOT, load_manifest
from skillfit.tasks.registry import get_task

FIX = Path(__file__).parent / "fixtures" / "paper"


def _items(split_dir: Path, split: str) -> list[dict]:
    return json.loads((split_dir / split / "items.json").read_text())


@pytest.mark.parametrize(
    "folder",
    [
        "searchqa_id_split",
        "livemathematicianbench_id_split",
        "docvqa_id_split",
        "officeqa_id_split",
    ],
)
def test_shipped_manifests_match_their_declared_counts(folder: str) -> None:
    manifest = load_manifest(folder)
    assert {s: len(rows) for s, rows in manifest.splits.items()} == manifest.info["counts"]
    assert manifest.source_url.startswith("https://")
    assert (MANIFEST_ROOT / "LICENSE").is_file()


def test_every_benchmark_has_a_materializer() -> None:
    assert {"searchqa", "livemathematicianbench", "docvqa", "officeqa"} <= set(materializable())
    with pytest.raises(TaskDataError, match="no materializer"):
        materialize("nope", FIX, FIX)


def test_searchqa_materializes_manifest_ids_from_raw_rows(tmp_path: Path) -> None:
    out = tmp_path / "sq"
    result = materialize(
        "searchqa", FIX / "searchqa" / "raw", out, manifest_dir=FIX / "searchqa" / "manifest"
    )
    assert result.counts == {"train": 3, "val": 2, "test": 2}
    assert _items(out, "val")[0] == {
        "id": "sq-va-1",
        "question": "He painted the Mona Lisa",
        "context": "[DOC] [TLE] Mona Lisa [PAR] The Mona Lisa is a portrait by Leonardo da Vinci.",
        "answers": ["Leonardo da Vinci"],
    }
    ids = [it.id for it in get_task("searchqa", split_dir=str(out)).splits()["test"]]
    assert ids == ["sq-te-1", "sq-te-2"]


def test_missing_raw_files_name_what_and_where(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(MissingRawDataError) as err:
        materialize("searchqa", tmp_path / "empty", tmp_path / "out")
    assert "data/train-*.parquet" in str(err.value)
    assert "huggingface.co/datasets/lucadiliello/searchqa" in str(err.value)
    with pytest.raises(MissingRawDataError, match="does not exist"):
        materialize("officeqa", tmp_path / "nowhere", tmp_path / "out")


def test_searchqa_missing_ids_are_named(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    lines = (FIX / "searchqa" / "raw" / "data" / "validation.jsonl").read_text().splitlines()
    (raw / "part.jsonl").write_text("\n".join(line for line in lines if "sq-te-2" not in line))
    with pytest.raises(MissingRawDataError, match="sq-te-2"):
        materialize("searchqa", raw, tmp_path / "out", FIX / "searchqa" / "manifest")


def test_livemath_materializes_and_normalizes_both_raw_shapes(tmp_path: Path) -> None:
    out = tmp_path / "lm"
    result = materialize(
        "livemathematicianbench", FIX / "livemath" / "raw", out, FIX / "livemath" / "manifest"
    )
    assert result.counts == {"train": 2, "val": 1, "test": 2}
    test_rows = _items(out, "test")
    assert [r["id"] for r in test_rows] == ["202511:4", "202512:1"]
    flat = test_rows[1]  # choices as a plain list, correct choice as a bare label
    assert flat["choices"][1] == {"label": "B", "text": "Z/6Z"}
    assert flat["correct_choice"] == {"label": "B", "text": "Z/6Z"}
    task = get_task("livemathematicianbench", split_dir=str(out), shuffle_choices=False)
    assert task.splits()["train"][1].target == {"label": "B", "text": "2x"}


def test_livemath_missing_month_file_is_named(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(FIX / "livemath" / "raw", raw)
    (raw / "data" / "202512" / "qa_202512_final.json").unlink()
    with pytest.raises(MissingRawDataError, match=r"data/202512/qa_202512_final\.json"):
        materialize("livemathematicianbench", raw, tmp_path / "out", FIX / "livemath" / "manifest")


def _docvqa_raw(root: Path, ids: list[str], with_images: bool = True) -> Path:
    """The official DocVQA layout: val_v1.0.json plus documents/*.png."""
    (root / "documents").mkdir(parents=True)
    data = []
    for qid in ids:
        image = f"documents/doc{qid}.png"
        if with_images:
            Image.new("L", (16, 16), 255).save(root / image)
        data.append(
            {
                "questionId": int(qid),
                "question": f"question {qid}?",
                "question_types": ["form"],
                "image": image,
                "docId": 9000 + int(qid),
                "ucsf_document_id": "abcd0000",
                "ucsf_document_page_no": "1",
                "answers": [f"answer {qid}"],
                "data_split": "val",
            }
        )
    (root / "val_v1.0_withQT.json").write_text(json.dumps({"dataset_name": "docvqa", "data": data}))
    return root


def test_docvqa_materializes_official_layout_with_images(tmp_path: Path) -> None:
    raw = _docvqa_raw(tmp_path / "raw", ["101", "102", "103", "104", "999"])
    out = tmp_path / "dv"
    result = materialize("docvqa", raw, out, FIX / "docvqa" / "manifest")
    assert result.counts == {"train": 2, "val": 1, "test": 1}
    row = _items(out, "val")[0]
    assert row["id"] == "103" and row["answers"] == ["answer 103"]
    assert row["image_path"] == "images/q103_dd103.png"
    assert (out / row["image_path"]).read_bytes() == (raw / "documents" / "doc103.png").read_bytes()
    task = get_task("docvqa", split_dir=str(out))
    assert task.splits()["train"][0].meta["doc_id"] == "9101"


def test_docvqa_missing_images_are_named(tmp_path: Path) -> None:
    raw = _docvqa_raw(tmp_path / "raw", ["101", "102", "103", "104"], with_images=False)
    with pytest.raises(MissingRawDataError, match="questionId 101"):
        materialize("docvqa", raw, tmp_path / "out", FIX / "docvqa" / "manifest")


def test_officeqa_materializes_csv_rows_and_per_item_document_folders(tmp_path: Path) -> None:
    out = tmp_path / "oq"
    result = materialize("officeqa", FIX / "officeqa" / "raw", out, FIX / "officeqa" / "manifest")
    assert result.counts == {"train": 2, "val": 1, "test": 1}
    row = _items(out, "val")[0]
    assert row["ground_truth"] == "58525"
    assert row["source_files"] == ["treasury_bulletin_1944_01.txt", "treasury_bulletin_1950_02.txt"]
    assert sorted(p.name for p in (out / "docs" / "UID0003").iterdir()) == row["source_files"]
    assert [p.name for p in (out / "docs" / "UID0001").iterdir()] == [
        "treasury_bulletin_1944_01.txt"
    ]
    task = get_task("officeqa", split_dir=str(out))
    assert task.splits()["test"][0].target == "165,877"


def test_officeqa_missing_csv_and_documents_are_named(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    shutil.copytree(FIX / "officeqa" / "raw", raw)
    (raw / "treasury_bulletins_parsed" / "transformed" / "treasury_bulletin_1950_02.txt").unlink()
    with pytest.raises(MissingRawDataError, match="treasury_bulletin_1950_02.txt"):
        materialize("officeqa", raw, tmp_path / "out", FIX / "officeqa" / "manifest")
    (raw / "officeqa_full.csv").unlink()
    with pytest.raises(MissingRawDataError, match=r"officeqa_full\.csv.*databricks/officeqa"):
        materialize("officeqa", raw, tmp_path / "out", FIX / "officeqa" / "manifest")


def test_cli_materialize(tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "sq"
    args = ["tasks", "materialize", "searchqa", "--raw", str(FIX / "searchqa" / "raw")]
    ok = runner.invoke(
        app, [*args, "--out", str(out), "--manifest", str(FIX / "searchqa" / "manifest")]
    )
    assert ok.exit_code == 0, ok.output
    assert "train 3, val 2, test 2" in ok.output
    assert len(_items(out, "train")) == 3
    (tmp_path / "empty").mkdir()
    bad = runner.invoke(
        app,
        ["tasks", "materialize", "searchqa", "--raw", str(tmp_path / "empty"), "--out", str(out)],
    )
    assert bad.exit_code == 2
    assert "lucadiliello/searchqa" in bad.output


def test_searchqa_and_docvqa_read_the_parquet_releases(tmp_path: Path) -> None:
    pa = pytest.importorskip("pyarrow")
    pq = pytest.importorskip("pyarrow.parquet")
    rows = [
        json.loads(line)
        for line in (FIX / "searchqa" / "raw" / "data" / "validation.jsonl")
        .read_text()
        .splitlines()
    ]
    (tmp_path / "sq" / "data").mkdir(parents=True)
    half = len(rows) // 2
    pq.write_table(
        pa.Table.from_pylist(rows[:half]), tmp_path / "sq" / "data" / "train-00000-of-00001.parquet"
    )
    pq.write_table(
        pa.Table.from_pylist(rows[half:]),
        tmp_path / "sq" / "data" / "validation-00000-of-00001.parquet",
    )
    result = materialize(
        "searchqa", tmp_path / "sq", tmp_path / "sq_out", FIX / "searchqa" / "manifest"
    )
    assert result.counts == {"train": 3, "val": 2, "test": 2}

    # lmms-lab/DocVQA: the page image is a struct of PNG bytes inside the parquet row
    png = tmp_path / "page.png"
    Image.new("L", (12, 12), 0).save(png)
    dv_rows = [
        {
            "questionId": qid,
            "question": f"q{qid}?",
            "question_types": ["layout"],
            "image": {"bytes": png.read_bytes(), "path": None},
            "docId": 7,
            "ucsf_document_id": "x",
            "ucsf_document_page_no": "2",
            "answers": [f"a{qid}"],
            "data_split": "validation",
        }
        for qid in ("101", "102", "103", "104")
    ]
    (tmp_path / "dv" / "DocVQA").mkdir(parents=True)
    pq.write_table(
        pa.Table.from_pylist(dv_rows),
        tmp_path / "dv" / "DocVQA" / "validation-00000-of-00006.parquet",
    )
    out = tmp_path / "dv_out"
    materialize("docvqa", tmp_path / "dv", out, FIX / "docvqa" / "manifest")
    row = _items(out, "test")[0]
    assert row["answers"] == ["a104"] and (out / row["image_path"]).read_bytes() == png.read_bytes()
