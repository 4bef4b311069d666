"""ALFWorld: materializer, loader and the step loop, played by scripted models on
(a) tiny games in ALFWorld's own `game.tw-pddl` format (tests/fixtures/paper/alfworld, rebuilt
by its build.py) and (b) a game made at test time by TextWorld's generator.

Skipped when TextWorld is not installed (`pip install 'skillfit[alfworld]'`)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path

import pytest

from skillfit.models.base import InfraError
from skillfit.models.scripted import Request, ScriptedModel
from skillfit.tasks.base import Item, TaskDataError
from skillfit.tasks.paper import alfworld as alf
from skillfit.tasks.paper.common import MissingRawDataError

FIXTURE = Path(__file__).parent / "fixtures" / "paper" / "alfworld"
HAS_TEXTWORLD = importlib.util.find_spec("textworld") is not None
HAS_PDDL = HAS_TEXTWORLD and importlib.util.find_spec("fast_downward") is not None
needs_textworld = pytest.mark.skipif(not HAS_TEXTWORLD, reason="pip install 'skillfit[alfworld]'")
needs_pddl = pytest.mark.skipif(
    not HAS_PDDL, reason="pip install 'skillfit[alfworld]' (PDDL engine)"
)


@pytest.fixture
def split_dir(tmp_path: Path) -> Path:
    out = tmp_path / "alfworld"
    result = alf.materialize(FIXTURE / "data", out, FIXTURE / "manifest")
    assert result.counts == {"train": 1, "val": 1, "test": 1}
    return out


def available(req: Request) -> list[str]:
    match = re.search(r"Available actions: (.*)\Z", req.last_user, re.S)
    return match.group(1).split(", ") if match else []


def household_player(req: Request) -> str:
    """Plays the mini-house games: find an apple, carry it to the receptacle the task names."""
    first_user = next(m["content"] for m in req.messages if m["role"] == "user")
    goal = re.search(r"put an apple in (\w+)", first_user)
    assert goal, first_user
    target = goal.group(1)
    actions = available(req)
    put = [a for a in actions if a.startswith("put apple") and a.endswith(f"{target} 1")]
    take = [a for a in actions if a.startswith("take apple")]
    holding = any(a.startswith("put apple") for a in actions)
    if put:
        choice = put[0]
    elif holding:
        choice = f"go to {target} 1"
    elif take:
        choice = take[0]
    else:
        choice = "go to countertop 1"
    return f"I should act.\nAction: {choice}"


def dancer(req: Request) -> str:
    return "Action: dance"


# ----------------------------------------------------------------------------- ALFWorld format


@needs_pddl
def test_materialize_and_load(split_dir: Path) -> None:
    items = alf.load_items(split_dir)
    assert [it.id for s in ("train", "val", "test") for it in items[s]] == [
        "train:0000",
        "val:0000",
        "test:0000",
    ]
    item = items["train"][0]
    assert item.meta["task_type"] == "pick_and_place_simple"
    # The val game's task comes from its traj_data.json (its grammar says "UNKNOWN GOAL").
    assert items["val"][0].meta["goal"] == "put an apple in sinkbasin"
    assert item.meta["goal"] == ""
    assert Path(item.target["gamefile"]).is_file()
    assert str(Path(item.target["gamefile"])).startswith(str(split_dir))


@needs_pddl
@pytest.mark.parametrize("split", ["train", "val", "test"])
def test_scripted_player_wins(split_dir: Path, split: str) -> None:
    task = alf.make_task(split_dir=str(split_dir), max_steps=10)
    model = ScriptedModel(household_player)
    item = task.splits()[split][0]
    traj = task.rollout(model, "# Skill\nFind the object first.", item)
    assert traj.ok, traj.error
    assert traj.score is not None
    assert (traj.score.hard, traj.score.soft) == (1, 1.0), traj.score.feedback
    assert traj.score.feedback.startswith("Won in")
    assert traj.tool_calls[-1]["won"] is True
    assert all(call["admissible"] for call in traj.tool_calls)
    # ALFWorld-style readable names, and the prompt order: skill first, then instructions.
    first = model.calls[0]
    assert first.system.startswith("# Skill")
    assert "Action: <action>" in first.system
    assert "go to countertop 1" in available(first)
    assert "sinkbasin 1" in first.last_user
    assert "UNKNOWN GOAL" not in first.last_user
    assert len(model.calls) == len(traj.tool_calls)
    assert traj.messages[0]["role"] == "system"
    assert traj.messages[-1]["content"].startswith("You put the apple")


@needs_pddl
def test_scripted_player_loses_at_step_limit(split_dir: Path) -> None:
    task = alf.make_task(split_dir=str(split_dir), max_steps=4)
    traj = task.rollout(ScriptedModel(dancer), "", task.splits()["train"][0])
    assert traj.ok and traj.score is not None
    assert (traj.score.hard, traj.score.soft) == (0, 0.0)
    assert "Not solved within the 4-step limit" in traj.score.feedback
    assert "4 actions were not available ('dance')" in traj.score.feedback
    assert len(traj.tool_calls) == 4
    assert traj.tool_calls[0]["observation"] == "Nothing happens."


@needs_pddl
def test_history_window_keeps_task_and_recent_turns(split_dir: Path) -> None:
    task = alf.make_task(split_dir=str(split_dir), max_steps=6, history_turns=2)
    model = ScriptedModel(dancer)
    task.rollout(model, "skill", task.splits()["train"][0])
    last = model.calls[-1]
    users = [m["content"] for m in last.messages if m["role"] == "user"]
    assert "Your task is to" in users[0] and "earlier steps omitted" in users[0]
    assert len(last.messages) == 1 + 1 + 2 * 2  # system, task, two (action, observation) turns


@needs_pddl
def test_infra_error_mid_episode_is_not_a_score(split_dir: Path) -> None:
    task = alf.make_task(split_dir=str(split_dir))
    calls = {"n": 0}

    def flaky(req: Request) -> str:
        calls["n"] += 1
        if calls["n"] == 2:
            raise InfraError("server down")
        return household_player(req)

    traj = task.rollout(ScriptedModel(flaky), "", task.splits()["train"][0])
    assert not traj.ok and traj.score is None and "server down" in (traj.error or "")
    assert len(traj.tool_calls) == 1


@needs_pddl
def test_registered(split_dir: Path) -> None:
    from skillfit.tasks.registry import get_task

    task = get_task("alfworld", split_dir=str(split_dir), n_val=0)
    assert task.name == "alfworld"
    assert [len(task.splits()[s]) for s in ("train", "val", "test")] == [1, 0, 1]
    assert task.initial_skill.startswith("# ALFWorld")


@needs_textworld
def test_alfworld_data_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    rows = json.loads((FIXTURE / "manifest/alfworld_path_split/train/items.json").read_text())
    root = tmp_path / "split"
    for split in ("train", "val", "test"):
        (root / split).mkdir(parents=True)
        data = [{**r, "gamefile": "$ALFWORLD_DATA/" + r["gamefile"]} for r in rows]
        (root / split / "items.json").write_text(json.dumps(data if split == "train" else []))
    monkeypatch.setenv("ALFWORLD_DATA", str(FIXTURE / "data"))
    items = alf.load_items(root)
    assert Path(items["train"][0].target["gamefile"]).is_file()
    monkeypatch.delenv("ALFWORLD_DATA")
    with pytest.raises(TaskDataError, match=r"train/items.json \(id 'train:0000'\): game file"):
        alf.load_items(root)


def test_materialize_with_paper_manifest_names_missing_files(tmp_path: Path) -> None:
    with pytest.raises(MissingRawDataError) as err:
        alf.materialize(FIXTURE / "data", tmp_path / "out")  # the shipped 191-game manifest
    message = str(err.value)
    assert "json_2.1.1/train/look_at_obj_in_light-AlarmClock-None-DeskLamp-305" in message
    assert "alfworld-download" in message


def test_materialize_without_raw_dir(tmp_path: Path) -> None:
    with pytest.raises(MissingRawDataError, match="does not exist"):
        alf.materialize(tmp_path / "none", tmp_path / "out", FIXTURE / "manifest")


# ----------------------------------------------------------------------------- TextWorld game


@pytest.fixture(scope="module")
def generated_game(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    """A one-room, two-step game from TextWorld's generator, and its walkthrough."""
    if not HAS_TEXTWORLD:
        pytest.skip("pip install 'skillfit[alfworld]'")
    import textworld
    from textworld.generator import compile_game, make_game

    options = textworld.GameOptions()
    options.seeds = 3
    options.nb_rooms = 1
    options.nb_objects = 2
    options.quest_length = 2
    options.path = str(tmp_path_factory.mktemp("twgame") / "tiny.z8")
    path = Path(compile_game(make_game(options), options))
    env = textworld.start(str(path), request_infos=textworld.EnvInfos(policy_commands=True))
    walkthrough = list(env.reset()["policy_commands"])
    env.close()
    return path, walkthrough


def generated_task(path: Path, tmp_path: Path, **options: int) -> alf.AlfworldTask:
    root = tmp_path / "split"
    for split in ("train", "val", "test"):
        (root / split).mkdir(parents=True)
        rows = [{"id": "g1", "gamefile": str(path)}] if split == "train" else []
        (root / split / "items.json").write_text(json.dumps(rows))
    return alf.make_task(split_dir=str(root), **options)


@needs_textworld
@pytest.mark.filterwarnings("ignore::UserWarning")  # Jericho: generated games lack score hooks
def test_generated_game_won_by_walkthrough(
    generated_game: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, walkthrough = generated_game
    task = generated_task(path, tmp_path)
    steps = iter(walkthrough)
    model = ScriptedModel(lambda r: f"> {next(steps)}")
    traj = task.rollout(model, "", task.splits()["train"][0])
    assert traj.score is not None and traj.score.hard == 1, traj.score
    assert traj.answer == " | ".join(walkthrough)
    assert walkthrough[0] in available(model.calls[0])


@needs_textworld
@pytest.mark.filterwarnings("ignore::UserWarning")
def test_generated_game_lost_by_idler(
    generated_game: tuple[Path, list[str]], tmp_path: Path
) -> None:
    path, _ = generated_game
    task = generated_task(path, tmp_path, max_steps=3)
    traj = task.rollout(ScriptedModel(lambda r: "Action: look"), "", task.splits()["train"][0])
    assert traj.score is not None and traj.score.hard == 0
    assert "3-step limit" in traj.score.feedback
    assert ">" not in traj.tool_calls[0]["observation"]  # the status bar is cleaned away


# ----------------------------------------------------------------------------- units


def test_alfred_names_number_like_alfworld() -> None:
    ids = [
        "apple_bar__minus_00_dot_47_bar__plus_01_dot_15",
        "apple_bar__plus_01_dot_02_bar__plus_00_dot_90",
        "sink_bar__plus_00_dot_50_bar_sinkbasin",
        "loc_center",
    ]
    assert alf.alfred_names(ids) == {
        "apple_bar__minus_00_dot_47_bar__plus_01_dot_15": "apple 2",
        "apple_bar__plus_01_dot_02_bar__plus_00_dot_90": "apple 1",
        "sink_bar__plus_00_dot_50_bar_sinkbasin": "sinkbasin 1",
        "loc_center": "loc_center",
    }


def test_parse_action() -> None:
    admissible = ["go to fridge 1", "take apple 2 from countertop 1"]
    assert alf.parse_action("Think.\nAction: Go to  Fridge 1.", admissible) == "go to fridge 1"
    assert alf.parse_action("> take apple 2 from countertop 1", admissible) == admissible[1]
    assert alf.parse_action("`go to fridge 1`", admissible) == "go to fridge 1"
    assert alf.parse_action("Action: fly away", admissible) == "fly away"
    assert alf.parse_action("", admissible) == ""


def test_clean_observation() -> None:
    raw = "You pick it up.\n\n\n\n>" + " " * 60 + "-= Bedroom =-0/3"
    assert alf.clean_observation(raw) == "You pick it up."


def test_missing_textworld_names_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "textworld", None)
    with pytest.raises(alf.AlfworldUnavailable, match=r"skillfit\[alfworld\]"):
        alf.make_task(split_dir=str(tmp_path))
    task = alf.AlfworldTask({"train": [], "val": [], "test": []}, options={})
    item = Item(id="x", input="", target={"gamefile": str(tmp_path / "g.tw-pddl")})
    with pytest.raises(ImportError, match=r"skillfit\[alfworld\]"):
        task.rollout(ScriptedModel(dancer), "", item)


# ----------------------------------------------------------------------------- bad data


def write_split(root: Path, rows_by_split: dict[str, list[object]]) -> Path:
    for split in ("train", "val", "test"):
        (root / split).mkdir(parents=True, exist_ok=True)
        (root / split / "items.json").write_text(json.dumps(rows_by_split.get(split, [])))
    return root


def test_bad_data_missing_gamefile(tmp_path: Path) -> None:
    root = write_split(tmp_path, {"val": [{"id": "v1", "task_type": "x"}]})
    with pytest.raises(
        TaskDataError, match=r"val/items.json item 0 \(id 'v1'\): missing field 'gamefile'"
    ):
        alf.load_items(root)


def test_bad_data_wrong_type(tmp_path: Path) -> None:
    root = write_split(tmp_path, {"train": [{"id": "t1", "gamefile": ["a"]}]})
    with pytest.raises(TaskDataError, match=r"'gamefile' must be str"):
        alf.load_items(root)


def test_bad_data_duplicate_id(tmp_path: Path) -> None:
    game = FIXTURE / "data/json_2.1.1/train/pick_and_place_simple-Apple-None-Fridge-1"
    row = {"id": "t1", "gamefile": str(game / "trial_T20190101_000000_000000/game.tw-pddl")}
    root = write_split(tmp_path, {"train": [row], "test": [row]})
    with pytest.raises(TaskDataError, match=r"test/items.json item 0: duplicate id 't1'"):
        alf.load_items(root)


def test_bad_data_missing_game_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ALFWORLD_DATA", raising=False)
    root = write_split(tmp_path, {"test": [{"id": "t9", "gamefile": "nowhere/game.tw-pddl"}]})
    with pytest.raises(
        TaskDataError, match=r"\(id 't9'\): game file .*nowhere/game.tw-pddl not found"
    ):
        alf.load_items(root)


@needs_pddl
def test_concurrent_rollouts_do_not_interfere(split_dir: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    task = alf.make_task(split_dir=str(split_dir), max_steps=10)
    items = [task.splits()[s][0] for s in ("train", "val", "test")] * 2
    model = ScriptedModel(household_player)
    with ThreadPoolExecutor(max_workers=4) as pool:
        trajs = list(pool.map(lambda it: task.rollout(model, "", it), items))
    assert all(t.score is not None and t.score.hard == 1 for t in trajs)
