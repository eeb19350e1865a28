"""``CharacterMemory``: a character's memories in the store, indexed in faiss, recalled by
Emotional RAG.

Collections, never shared across users:

- the character's own memories (profile facts, experiences; ``user_id`` None): one index;
- each (character, user) pair's dialogue memories: one index per pair.

``recall`` searches the character's index and the asking user's, and merges them (see
``memory.retrieval``). The store is the source of truth: before each recall the store's
``memory_version`` is compared with the version the index reflects; when it moved (a turn was
committed with new dialogue memories, a memory was added elsewhere), the collection is listed
from the store and the missing memories are added incrementally (a removed one triggers a full
rebuild). Indexes persist under ``home/indexes/<character>/`` and are rebuilt from the store
when missing, stale, corrupt or mismatched, so nothing is lost with them.

Costs: a recall is one ``memory_version`` query plus a faiss search per collection; a version
change costs one listing of the two collections from the store (cheap for hundreds or thousands
of memories; for 1e5 memories a listing takes seconds, so very large collections should be
written through ``add`` in bulk, not turn by turn).

>>> mem = CharacterMemory(store, home=tmp, embedder=embedder)  # doctest: +SKIP
>>> mem.add(char_id, ["I grew up by the sea."], kind="experience", emotion="nostalgic")  # doctest: +SKIP
>>> mem.recall(char_id, "ann", "I miss the beach", emotion=reading)[0].text  # doctest: +SKIP
'I grew up by the sea.'
"""

from __future__ import annotations

import hashlib
import logging
import re
import shutil
import threading
import time
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from agent.records import Character, EmotionReading, MemoryUnit, RecalledMemory
from agent.settings import MemorySettings, Settings
from agent.store.base import Store
from memory.emotion import EMOTION_DIM, emotion_vector, label_point
from memory.index import SEMANTIC_DIM, IndexCorrupt, MemoryIndex, choose_kind
from memory.retrieval import check_strategy, retrieve

log = logging.getLogger(__name__)

SHARED = ""
"""The scope of the character's own memories (a user's scope is the user id)."""


class CharacterMemory:
    """Implements ``agent.protocols.MemoryRecall`` and the graph's ``memory_writer``.

    ``embedder`` is anything with ``encode(texts) -> (n, 384) float32`` unit vectors (default:
    the shared MiniLM, loaded on first use). Settings precedence: explicit ``settings`` >
    ``MemorySettings()`` defaults.
    """

    def __init__(self, store: Store, *, home: str | Path, settings: MemorySettings | None = None,
                 embedder: Any = None) -> None:
        self.store = store
        self.settings = settings or MemorySettings()
        check_strategy(self.settings.strategy)
        self.root = Path(home) / "indexes"
        self._embedder = embedder
        self._indexes: dict[tuple[str, str], MemoryIndex] = {}
        # Each collection's units without their vectors: recall needs text, kind and emotion.
        self._units: dict[tuple[str, str], dict[str, MemoryUnit]] = {}
        self._lock = threading.RLock()

    @classmethod
    def from_settings(cls, store: Store, settings: Settings, embedder: Any = None) -> CharacterMemory:
        return cls(store, home=settings.home, settings=settings.memory, embedder=embedder)

    @property
    def embedder(self):
        if self._embedder is None:
            from agent.perception.embedder import SentenceEmbedder

            self._embedder = SentenceEmbedder.shared()
        return self._embedder

    # -- writing -------------------------------------------------------------------------------
    def add(self, character_id: str, memories: str | MemoryUnit | Sequence[str | MemoryUnit], *,
            kind: str = "experience",
            user_id: str | None = None, emotion: Any = None) -> list[MemoryUnit]:
        """Store memories (a text, a unit, or a list of them; a unit's ``character_id`` is
        replaced) and index them.

        Texts get ``kind``, ``user_id`` and ``emotion`` (a label or an ``EmotionReading``);
        units keep their own. Empty text raises ``ValueError``; duplicates (same character,
        user, kind and stripped text, in the batch or already stored) are skipped. Returns the
        units actually added.
        """
        if isinstance(memories, (str, MemoryUnit)):
            memories = [memories]
        units = [self.prepare(character_id, m, kind=kind, user_id=user_id, emotion=emotion)
                 for m in memories]
        stored = {(u.user_id or SHARED, u.kind, u.text.strip()) for scope in {u.user_id for u in units}
                  for u in self.store.list_memories(character_id, user_id=scope, include_shared=scope is None)}
        fresh, seen = [], set(stored)
        for u in units:
            key = (u.user_id or SHARED, u.kind, u.text.strip())
            if key not in seen:
                seen.add(key)
                fresh.append(u)
        added = self.store.add_memories(self._with_embeddings(fresh)) if fresh else []
        with self._lock:
            for scope in {u.user_id or SHARED for u in added}:
                self._collection(character_id, scope)  # picks the new memories up incrementally
        return added

    def add_profile(self, character: Character) -> list[MemoryUnit]:
        """The character's profile text as a ``profile`` memory (nothing if it is empty)."""
        if not character.id:
            raise ValueError("store the character first: add_profile needs its id")
        return self.add(character.id, [character.profile], kind="profile") if character.profile.strip() else []

    def prepare(self, character_id: str, memory: str | MemoryUnit, *, kind: str = "experience",
                user_id: str | None = None, emotion: Any = None) -> MemoryUnit:
        """A unit ready for the store: emotion label and Plutchik vector filled in (no embedding)."""
        if isinstance(memory, MemoryUnit):
            unit = replace(memory, character_id=character_id)
        else:
            if not isinstance(memory, str):
                raise ValueError(f"a memory must be a text or a MemoryUnit, got {type(memory).__name__}")
            label = emotion if isinstance(emotion, str) else getattr(emotion, "label", None)
            label = label.strip().lower() if label else None
            unit = MemoryUnit(character_id=character_id, kind=kind, text=memory.strip(), user_id=user_id,
                              emotion=label, created_at=time.time())
            if emotion is not None:
                unit = replace(unit, emotion_vector=tuple(emotion_vector(emotion).tolist()))
        if unit.kind == "dialogue" and not unit.user_id:
            raise ValueError("a dialogue memory needs the user it was held with (user_id)")
        if unit.emotion is not None:
            label_point(unit.emotion)  # unknown labels fail here, with the list of known ones
        if len(unit.emotion_vector) not in (0, EMOTION_DIM):
            unit = replace(unit, emotion_vector=tuple(emotion_vector(unit.emotion_vector).tolist()))
        elif not unit.emotion_vector:
            unit = replace(unit, emotion_vector=tuple(label_point(unit.emotion).tolist()))
        return unit

    def exchange_memories(self, character_id: str, user_id: str, user_text: str, reply: str, *,
                          emotion: EmotionReading | None = None, encoding: Any = None) -> list[MemoryUnit]:
        """The dialogue memory of one exchange, NOT stored: the graph commits it with the turn.

        Its semantic vector is the user's words (``encoding.sentence`` when given, so nothing is
        embedded twice): later turns recall it when the user speaks of the same thing.
        """
        if not user_text or not user_text.strip():
            return []
        text = f'They told me: "{user_text.strip()}"'
        if reply and reply.strip():
            text += f' I answered: "{reply.strip()}"'
        unit = self.prepare(character_id, text, kind="dialogue", user_id=user_id, emotion=emotion)
        vec = getattr(encoding, "sentence", None)
        if vec is None:
            vec = self.embedder.encode([user_text.strip()])[0]
        return [replace(unit, embedding=tuple(np.asarray(vec, dtype=np.float32).ravel().tolist()))]

    # -- reading -------------------------------------------------------------------------------
    def list(self, character_id: str, *, user_id: str | None = None,
             kinds: Sequence[str] | None = None) -> list[MemoryUnit]:
        """The memories ``user_id`` may see (theirs and the character's); the character's own
        only when ``user_id`` is None."""
        return self.store.list_memories(character_id, user_id=user_id, include_shared=True, kinds=kinds)

    def recall(self, character_id: str, user_id: str | None, query: str, *,
               emotion: EmotionReading | None = None, encoding: Any = None,
               k: int | None = None, strategy: str | None = None) -> list[RecalledMemory]:
        """The ``k`` memories that best fit the query's meaning and (unless the strategy is
        semantic) its emotion. Only the character's own memories and ``user_id``'s dialogue
        memories are searched."""
        k = self.settings.k if k is None else int(k)
        strategy = check_strategy(strategy or self.settings.strategy)
        if k <= 0 or not query or not query.strip():
            return []
        q = getattr(encoding, "sentence", None)
        if q is None:
            q = self.embedder.encode([query.strip()])[0]
        q_emotion = emotion_vector(emotion) if emotion is not None else None
        scopes = [SHARED] + ([user_id] if user_id else [])
        with self._lock:
            indexes = [self._collection(character_id, s) for s in scopes]
            ranked = retrieve(indexes, q, q_emotion, strategy, k,
                              emotion_weight=self.settings.emotion_weight, pool=self.settings.sequential_pool)
            ids = [indexes[r.source].ids[r.row] for r in ranked]
        units = {u.id: u for s in scopes for u in self._units_by_id(character_id, s, ids)}
        out = []
        for r, mid in zip(ranked, ids):
            u = units.get(mid)
            if u is None:  # removed from the store since the index was synced
                continue
            out.append(RecalledMemory(id=mid, kind=u.kind, text=u.text, emotion=u.emotion, score=r.score,
                                      semantic_score=r.semantic,
                                      emotion_score=0.0 if np.isnan(r.emotion) else r.emotion))
        return out

    def _units_by_id(self, character_id: str, scope: str, ids: Sequence[str]) -> list[MemoryUnit]:
        cache = self._units.get((character_id, scope), {})
        return [cache[i] for i in ids if i in cache]

    # -- index life cycle ----------------------------------------------------------------------
    def rebuild(self, character_id: str) -> int:
        """Drop the character's index files and rebuild them from the store: its own collection
        and that of every user it has a session with (other users' are rebuilt on their next
        recall). Returns the number of memories indexed."""
        with self._lock:
            for key in [key for key in self._indexes if key[0] == character_id]:
                del self._indexes[key]
                self._units.pop(key, None)
            shutil.rmtree(self._dir(character_id), ignore_errors=True)
            users = {s.user_id for s in self.store.list_sessions(character_id=character_id)}
            total = len(self._collection(character_id, SHARED, force=True))
            for user in sorted(users):
                total += len(self._collection(character_id, user, force=True))
        return total

    def _dir(self, character_id: str) -> Path:
        return self.root / _safe_name(character_id)

    def _stem(self, character_id: str, scope: str) -> Path:
        return self._dir(character_id) / ("character" if scope == SHARED else "user-" + _safe_name(scope))

    def _scope_units(self, character_id: str, scope: str) -> list[MemoryUnit]:
        if scope == SHARED:
            units = self.store.list_memories(character_id, user_id=None, include_shared=True)
        else:
            units = self.store.list_memories(character_id, user_id=scope, include_shared=False)
        units = [u for u in units if (u.user_id or SHARED) == scope]  # defence in depth
        self._units[(character_id, scope)] = {u.id: replace(u, embedding=(), emotion_vector=())
                                              for u in units}
        return units

    def _collection(self, character_id: str, scope: str, force: bool = False) -> MemoryIndex:
        """The up-to-date index of one collection (loaded, synced or rebuilt as needed)."""
        key = (character_id, scope)
        version = self.store.memory_version(character_id)
        index = self._indexes.get(key)
        if index is not None and index.version == version and not force and key in self._units:
            return index
        stem = self._stem(character_id, scope)
        if index is None and not force:
            try:
                index = MemoryIndex.load(stem)
            except IndexCorrupt as exc:
                if stem.with_suffix(".json").exists():
                    log.warning("memory index %s is unusable (%s); rebuilding it from the store", stem, exc)
                index = None
        units = self._scope_units(character_id, scope)
        if index is not None:
            stored = {u.id for u in units}
            known = set(index.ids)
            missing = [u for u in units if u.id not in known]
            if not known <= stored or len(index.ids) != len(known):
                log.info("memory index %s holds memories no longer stored; rebuilding", stem)
                index = None
            elif missing:
                sem, emo = self._vectors(missing)
                index.add([u.id for u in missing], sem, emo)
                if index.kind != choose_kind(len(index), self.settings.approximate_threshold):
                    index = None  # outgrew exact search: rebuild as an approximate index
            if index is not None:
                index.version = version
                if missing or not stem.with_suffix(".json").exists():
                    index.save(stem)
                else:
                    index.save_manifest(stem)
        if index is None:
            sem, emo = self._vectors(units)
            index = MemoryIndex.build([u.id for u in units], sem, emo,
                                      approximate_threshold=self.settings.approximate_threshold)
            index.version = version
            index.save(stem)
        self._indexes[key] = index
        return index

    def _vectors(self, units: Sequence[MemoryUnit]) -> tuple[np.ndarray, np.ndarray]:
        """(semantic, emotion) arrays; units stored without an embedding are embedded now."""
        units = self._with_embeddings(list(units))
        if not units:
            return np.zeros((0, SEMANTIC_DIM), np.float32), np.zeros((0, EMOTION_DIM), np.float32)
        sem = np.array([u.embedding for u in units], dtype=np.float32)
        emo = np.array([emotion_vector(u.emotion_vector) if len(u.emotion_vector) else label_point(u.emotion)
                        for u in units], dtype=np.float32).reshape(len(units), EMOTION_DIM)
        return sem, emo

    def _with_embeddings(self, units: list[MemoryUnit]) -> list[MemoryUnit]:
        # A unit stored without a vector, or with one from another model, is embedded (again).
        todo = [i for i, u in enumerate(units) if len(u.embedding) != SEMANTIC_DIM]
        if todo:
            vectors = self.embedder.encode([units[i].text for i in todo])
            for i, v in zip(todo, vectors):
                units[i] = replace(units[i], embedding=tuple(np.asarray(v, np.float32).tolist()))
        return units


def _safe_name(value: str) -> str:
    """A file name for an id: kept when plain, else a hash (ids may hold any character)."""
    if re.fullmatch(r"[A-Za-z0-9_-]{1,64}", value):
        return value
    return "h" + hashlib.sha256(value.encode("utf-8")).hexdigest()[:32]
