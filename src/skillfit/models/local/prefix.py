"""Exact decoding that reuses the skill: a saved, ubatch-aligned prefix per system message
(`SKILLFIT_LOCAL_DECODING=exact-prefix`).

llama.cpp computes a prompt in ubatches of `n_ubatch` tokens, and its CPU kernels depend on the
chunk: a prompt whose prefix came from the prompt cache is read in other chunks than the same
prompt read whole, and the floats differ. A prefix whose length P is a multiple of the ubatch
does not move any chunk: restored from a slot file, it leaves the rest of the prompt to be read
from position P in exactly the ubatches a whole read uses (`bench/prefix_reuse.md`: every
probability of 40 replies equal to the whole read's, at 2.1 times its speed).

Per request, on the server's one slot and under one lock:

1. the prompt's tokens, as the server makes them (`/apply-template` with the request itself,
   then `/tokenize` with special tokens added and parsed, as the chat route does), and the tokens of the system message templated alone; their longest
   common prefix is the system part (any common prefix is correct: the server checks tokens,
   not text); P is its length rounded down to the ubatch;
2. P == 0 (no system message, or one shorter than a ubatch): the request is read whole;
3. otherwise the slot file for those P tokens (named by their hash; the last `keep` are kept):
   if missing, the slot is erased, the P tokens read (`/completion`, `n_predict` 0) and saved,
   and the save must hold P tokens;
4. the file is restored and the request sent with `cache_prompt` and `id_slot` 0; the reply
   must say it reused exactly P tokens (`timings.cache_n`). Any other count (another client
   used the slot, a tokenization the server made otherwise) means other chunks: the slot is
   erased and the request read whole again, and counted in `stats.fallbacks`.
"""

from __future__ import annotations

import hashlib
import json
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from skillfit.models.base import InfraError
from skillfit.models.retry import TransientError

T = TypeVar("T")

# POST a JSON body to a path of the server and return its JSON reply; InfraError on a refusal.
Post = Callable[[str, Mapping[str, Any]], Any]
# Send the chat request with these extra body fields; return its result and how many prompt
# tokens the server reused (None when the reply does not say).
Chat = Callable[[Mapping[str, Any]], tuple[T, int | None]]

SLOT = 0  # the server's one slot


@dataclass
class PrefixStats:
    saved: int = 0  # prefixes read and saved to a slot file
    reused: int = 0  # replies that reused exactly the restored prefix
    whole: int = 0  # requests read whole: no aligned prefix (P == 0)
    fallbacks: int = 0  # replies that reused another count, read again whole


def common_prefix(a: Sequence[int], b: Sequence[int]) -> int:
    n = 0
    for x, y in zip(a, b, strict=False):
        if x != y:
            break
        n += 1
    return n


class AlignedPrefix:
    """The per-request logic of exact-prefix decoding on one server (thread-safe: requests
    are serialized, as the server's one slot serializes them anyway)."""

    def __init__(self, post: Post, ubatch: int, slots_dir: Path, *, keep: int = 4) -> None:
        if ubatch < 1:
            raise ValueError(f"ubatch must be positive, not {ubatch}")
        self._post = post
        self.ubatch = ubatch
        self.slots_dir = slots_dir
        self.keep = max(1, keep)
        self.stats = PrefixStats()
        self._lock = threading.Lock()
        self._files: OrderedDict[str, int] = OrderedDict()  # file name -> tokens saved
        self._system: OrderedDict[str, list[int]] = OrderedDict()  # system message -> tokens

    def complete(self, body: Mapping[str, Any], chat: Chat[T]) -> T:
        """Send the chat-completions request `body` through `chat`, reusing its aligned system
        prefix where there is one, with the reply a whole read would give."""
        with self._lock:
            prefix = self.prefix(body)
            if not prefix:
                self.stats.whole += 1
                return chat({"cache_prompt": False, "id_slot": SLOT})[0]
            name = self._saved(prefix)
            if name is not None:
                self._slot("restore", filename=name)
                result, reused = chat({"cache_prompt": True, "id_slot": SLOT})
                if reused == len(prefix):
                    self.stats.reused += 1
                    return result
            self.stats.fallbacks += 1
            self._slot("erase")
            return chat({"cache_prompt": False, "id_slot": SLOT})[0]

    def prefix(self, body: Mapping[str, Any]) -> list[int]:
        """The request's first P tokens: its system part rounded down to the ubatch."""
        messages = list(body.get("messages") or [])
        if not messages or messages[0].get("role") != "system":
            return []
        system = self._system_tokens(messages[0])
        if not system:
            return []
        tokens = self._tokens(body)
        shared = common_prefix(system, tokens)
        return tokens[: shared // self.ubatch * self.ubatch]

    def _tokens(self, body: Mapping[str, Any]) -> list[int]:
        prompt = self._post("/apply-template", body)["prompt"]
        # As the server tokenizes a chat prompt (a BOS where the model asks for one, special
        # tokens parsed): a prefix tokenized otherwise would never be reused.
        reply = self._post(
            "/tokenize", {"content": prompt, "add_special": True, "parse_special": True}
        )
        return [int(t) for t in reply["tokens"]]

    def _system_tokens(self, message: Mapping[str, Any]) -> list[int]:
        key = json.dumps(message, sort_keys=True, ensure_ascii=False)
        if key in self._system:
            self._system.move_to_end(key)
            return self._system[key]
        try:
            tokens = self._tokens({"messages": [dict(message)]})
        except TransientError:
            raise
        except InfraError:  # a template that needs more than a system message: no prefix
            tokens = []
        self._system[key] = tokens
        while len(self._system) > 4 * self.keep:
            self._system.popitem(last=False)
        return tokens

    def _saved(self, prefix: Sequence[int]) -> str | None:
        """The slot file holding `prefix`, read and saved if missing (None if the save did not
        hold exactly the prefix)."""
        digest = hashlib.sha256(json.dumps(list(prefix)).encode()).hexdigest()[:24]
        name = f"prefix-{digest}.bin"
        if name in self._files:
            self._files.move_to_end(name)
            return name
        self._slot("erase")
        self._post(
            "/completion",
            {"prompt": list(prefix), "n_predict": 0, "cache_prompt": True, "id_slot": SLOT},
        )
        saved = self._slot("save", filename=name)
        if not isinstance(saved, Mapping) or saved.get("n_saved") != len(prefix):
            (self.slots_dir / name).unlink(missing_ok=True)
            return None
        self.stats.saved += 1
        self._files[name] = len(prefix)
        while len(self._files) > self.keep:
            old, _ = self._files.popitem(last=False)
            (self.slots_dir / old).unlink(missing_ok=True)
        return name

    def _slot(self, action: str, **body: Any) -> Any:
        return self._post(f"/slots/{SLOT}?action={action}", body)
