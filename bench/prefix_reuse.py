"""Can a shared prompt prefix be reused without changing a single float of the reply?

    nice python bench/prefix_reuse.py [--ubatch 64] [--n 40] [--skill FILE] [--whole-only]

Exact decoding that reads every prompt whole (`SKILLFIT_LOCAL_DECODING=exact`, the default
when this probe was written) is slow on shared prefixes because llama.cpp reads the rest of a prompt whose prefix came from its prompt cache in other
chunks than a fresh read, and its CPU kernels are chosen by chunk size: the floats differ. This
probe tests a way around it: save the slot's state after reading a prefix whose length is a
multiple of the server's ubatch (`n_ubatch`), restore that state before each request, and let
the server read only the rest, which then falls into exactly the chunks a whole read uses.

It starts its own xllamacpp server on the embedded 0.5B (one slot, `n_ubatch` as given),
builds one prompt per validation item of `bbh/web_of_lies` (the skill as the system message,
the item as the user message), and decodes each greedily (64 tokens, with the top token's
probability at every step) three ways:

- `whole`: the slot erased before each prompt, the prompt cache off (`exact`);
- `aligned`: the saved aligned prefix restored before each prompt, in reverse order (what
  `exact-prefix`, the default now, does);
- `plain cache`: llama.cpp's own prompt cache, in reverse order (`batched`).

It prints, per way, the wall time and how many replies equal the whole read's in text and in
text plus every probability. `--whole-only` runs only the whole read, and writes the replies
to `--out` so two ubatch sizes can be compared (`--against FILE`).
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]


class Probe:
    def __init__(self, ubatch: int, slots_dir: Path) -> None:
        import xllamacpp

        from skillfit.models.local.catalog import DEFAULT_LOCAL, list_local_models
        from skillfit.models.local.weights import ensure_weights

        info = next(m for m in list_local_models() if m.name == DEFAULT_LOCAL)
        p = xllamacpp.CommonParams()
        p.model.path = str(ensure_weights(info))
        p.n_parallel = 1
        p.n_ctx = 4096
        p.cpuparams.n_threads = 2
        p.cpuparams_batch.n_threads = 2
        p.cache_prompt = False  # the server-wide default; requests turn it on where wanted
        p.cache_ram_mib = 0
        p.cache_idle_slots = False
        p.n_ctx_checkpoints = 0
        p.n_cache_reuse = 0
        p.n_ubatch = ubatch
        p.n_batch = max(512, ubatch)  # a multiple of the ubatch: chunks stay aligned
        p.slot_save_path = str(slots_dir)
        p.sampling.temp = 0.0
        p.warmup = False
        p.hostnames = ["127.0.0.1"]
        p.port = 0
        p.verbosity = 0
        self.server = xllamacpp.Server(p)
        self.base = str(self.server.listening_address).rstrip("/")

    def post(self, path: str, body: dict[str, Any]) -> Any:
        req = urllib.request.Request(
            self.base + path,
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, timeout=600) as reply:
                return json.loads(reply.read())
        except urllib.error.HTTPError as exc:
            raise SystemExit(f"{path}: HTTP {exc.code}: {exc.read()[:300]!r}") from exc

    def tokens(self, messages: list[dict[str, str]]) -> list[int]:
        prompt = self.post("/apply-template", {"messages": messages})["prompt"]
        body = {"content": prompt, "add_special": False, "parse_special": True}
        return list(self.post("/tokenize", body)["tokens"])

    def complete(self, tokens: Sequence[int], *, cache: bool) -> tuple[str, dict[str, Any]]:
        body = {
            "prompt": list(tokens),
            "n_predict": 64,
            "temperature": 0.0,
            "cache_prompt": cache,
            "id_slot": 0,
            "n_probs": 1,
        }
        reply = self.post("/completion", body)
        # the text and every step's top-token probability: equal floats or not
        key = json.dumps([reply["content"], reply.get("completion_probabilities")])
        return key, reply.get("timings") or {}

    def slot(self, action: str, **body: Any) -> Any:
        return self.post(f"/slots/0?action={action}", body)


def shared_prefix(prompts: Sequence[Sequence[int]]) -> int:
    first = prompts[0]
    n = len(first)
    for other in prompts[1:]:
        k = 0
        while k < min(n, len(other)) and first[k] == other[k]:
            k += 1
        n = k
    return n


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--ubatch", type=int, default=64)
    ap.add_argument("--n", type=int, default=40, help="validation items (prompts)")
    ap.add_argument("--skill", type=Path, help="system message (default: the task's skill)")
    ap.add_argument("--whole-only", action="store_true")
    ap.add_argument("--out", type=Path, help="write the whole read's replies here (JSON)")
    ap.add_argument("--against", type=Path, help="compare the whole read with this --out file")
    args = ap.parse_args(argv)

    from skillfit.tasks.registry import get_task

    task = get_task("bbh/web_of_lies", n_train=32, n_val=40, n_test=60, seed=0)
    skill = args.skill.read_text(encoding="utf-8") if args.skill else task.initial_skill
    items = task.splits()["val"][: args.n]
    with tempfile.TemporaryDirectory(prefix="skillfit-prefix-") as tmp:
        probe = Probe(args.ubatch, Path(tmp))
        prompts = [
            probe.tokens(
                [{"role": "system", "content": skill}, {"role": "user", "content": it.input}]
            )
            for it in items
        ]
        common = shared_prefix(prompts)
        aligned = common // args.ubatch * args.ubatch
        print(
            f"{len(prompts)} prompts of {min(map(len, prompts))}-{max(map(len, prompts))} "
            f"tokens, shared prefix {common}, aligned prefix {aligned} (ubatch {args.ubatch})"
        )

        def whole(order: Sequence[int]) -> dict[int, str]:
            out = {}
            for i in order:
                probe.slot("erase")
                out[i], _ = probe.complete(prompts[i], cache=False)
            return out

        def restored(order: Sequence[int]) -> dict[int, str]:
            probe.slot("erase")
            probe.post(
                "/completion",
                {
                    "prompt": prompts[0][:aligned],
                    "n_predict": 0,
                    "cache_prompt": True,
                    "id_slot": 0,
                },
            )
            saved = probe.slot("save", filename="prefix.bin")
            if saved.get("n_saved") != aligned:
                raise SystemExit(f"saved {saved.get('n_saved')} tokens, not {aligned}")
            out = {}
            for i in order:
                probe.slot("restore", filename="prefix.bin")
                out[i], timings = probe.complete(prompts[i], cache=True)
                if timings.get("cache_n") != aligned:
                    raise SystemExit(f"prompt {i}: reused {timings.get('cache_n')}, not {aligned}")
            return out

        def plain(order: Sequence[int]) -> dict[int, str]:
            probe.slot("erase")
            return {i: probe.complete(prompts[i], cache=True)[0] for i in order}

        forward = list(range(len(prompts)))
        ways: list[tuple[str, Callable[[Sequence[int]], dict[int, str]], list[int]]] = [
            ("whole", whole, forward)
        ]
        if not args.whole_only:
            ways += [("aligned", restored, forward[::-1]), ("plain cache", plain, forward[::-1])]
        base: dict[int, str] = {}
        for name, way, order in ways:
            started = time.perf_counter()
            out = way(order)
            seconds = time.perf_counter() - started
            base = base or out
            texts = sum(json.loads(out[i])[0] == json.loads(base[i])[0] for i in forward)
            exact = sum(out[i] == base[i] for i in forward)
            print(
                f"{name}: {seconds:.1f} s; equal to the whole read: {texts}/{len(forward)} "
                f"texts, {exact}/{len(forward)} texts and probabilities",
                flush=True,
            )
    if args.out:
        args.out.write_text(json.dumps({str(i): v for i, v in base.items()}), encoding="utf-8")
    if args.against:
        other = json.loads(args.against.read_text(encoding="utf-8"))
        keys = [k for k in other if int(k) in base]
        texts = sum(json.loads(other[k])[0] == json.loads(base[int(k)])[0] for k in keys)
        exact = sum(other[k] == base[int(k)] for k in keys)
        print(
            f"whole read vs {args.against}: {texts}/{len(keys)} texts, {exact} with probabilities"
        )


if __name__ == "__main__":
    main()
