"""Character memory: Emotional RAG ranking, index life cycle, per-user isolation, cards.

Runs against an in-memory fake of the store's memory methods and the real ``SQLStore`` (SQLite
in tmp_path), with a fake embedder (hashed bag of words) so no model is loaded.
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from dataclasses import replace

import numpy as np
import pytest

from agent.records import Character, EmotionReading, MemoryUnit, Traits
from agent.settings import MemorySettings
from agent.store.base import NotFound
from memory import CARDS_DIR, CardError, CharacterMemory, install_card, load_card
from memory.emotion import PLUTCHIK8, emotion_vector, label_point
from memory.index import IndexCorrupt, MemoryIndex
from memory.retrieval import combined_distance, rank, retrieve


# -- fakes -------------------------------------------------------------------------------------

class BagOfWordsEmbedder:
    """Unit vectors from hashed words: texts sharing words are similar. Counts its calls."""

    dim = 384

    def __init__(self, fixed: dict[str, np.ndarray] | None = None) -> None:
        self.fixed = fixed or {}
        self.calls = 0

    def encode(self, texts):
        self.calls += 1
        out = np.zeros((len(texts), self.dim), np.float32)
        for i, t in enumerate(texts):
            if t in self.fixed:
                out[i] = self.fixed[t]
                continue
            for w in re.findall(r"[a-z]+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
            out[i] /= max(np.linalg.norm(out[i]), 1e-9)
        return out


class FakeStore:
    """The memory part of ``agent.store.base.Store``, in memory."""

    def __init__(self) -> None:
        self.characters: dict[str, Character] = {}
        self.memories: list[MemoryUnit] = []
        self.version = 0

    def save_character(self, character):
        character = replace(character, id=character.id or str(uuid.uuid4()))
        self.characters[character.id] = character
        return character

    def get_character(self, id_or_name):
        for c in self.characters.values():
            if id_or_name in (c.id, c.name):
                return c
        raise NotFound(f"no character {id_or_name!r}")

    def list_sessions(self, *, character_id=None, user_id=None):
        return []

    def add_memories(self, memories):
        added = []
        for u in memories:
            key = (u.character_id, u.user_id or "", u.kind, u.text.strip())
            if any((m.character_id, m.user_id or "", m.kind, m.text.strip()) == key for m in self.memories + added):
                continue
            added.append(replace(u, id=u.id or str(uuid.uuid4())))
        self.memories += added
        if added:
            self.version += 1
        return added

    def list_memories(self, character_id, *, user_id=None, include_shared=True, kinds=None):
        scopes = ([""] if include_shared else []) + ([user_id] if user_id else [])
        return [m for m in self.memories if m.character_id == character_id and (m.user_id or "") in scopes
                and (not kinds or m.kind in kinds)]

    def memory_version(self, character_id):
        return f"{self.version}:{len(self.memories)}"


@pytest.fixture(params=["fake", "sql"])
def store(request, tmp_path):
    if request.param == "fake":
        yield FakeStore()
        return
    from agent.store.sql import SQLStore

    s = SQLStore.from_url(f"sqlite:///{tmp_path / 'kindred.db'}")
    yield s
    s.close()


@pytest.fixture
def character(store):
    return store.save_character(Character(name="Mira", profile="A lighthouse keeper."))


def make_memory(store, tmp_path, embedder=None, **settings):
    return CharacterMemory(store, home=tmp_path / "home", embedder=embedder or BagOfWordsEmbedder(),
                           settings=MemorySettings(**settings))


def reading(label: str) -> EmotionReading:
    return EmotionReading(label=label, confidence=1.0)


# -- the hand-checked Emotional RAG ranking ---------------------------------------------------

def _unit(cos: float) -> np.ndarray:
    """A 384-d unit vector whose cosine with e0 is ``cos``."""
    v = np.zeros(384, np.float32)
    v[0], v[1] = cos, np.sqrt(1 - cos ** 2)
    return v


HAND = {"A": (0.9, "angry"), "B": (0.6, "sad"), "C": (0.0, "lonely")}


def test_hand_checked_ranking_three_memories():
    # Query: e0, sad. cos_e(sad, angry) = 0, cos_e(sad, sad) = 1, cos_e(sad, lonely) = 1/sqrt(1.04).
    q_e = label_point("sad")
    cos = np.array([v[0] for v in HAND.values()])
    cos_e = np.array([float(label_point(label) @ q_e) for _, label in HAND.values()])
    assert cos_e.round(4).tolist() == [0.0, 1.0, round(1 / np.sqrt(1.04), 4)]
    # Spreads 0.10 and 0.33: d_s = (1, 4, 10), d_e = (1/0.33, 0, 0.0194/0.33) = (3.0303, 0, 0.0588).
    # w = 0.3: d = (0.7 + 0.9091, 2.8, 7 + 0.0176); w = 0.6: d = (0.4 + 1.8182, 1.6, 4 + 0.0353).
    assert combined_distance(cos, cos_e, 0.3).round(3).tolist() == [1.609, 2.8, 7.018]
    assert combined_distance(cos, cos_e, 0.6).round(3).tolist() == [2.218, 1.6, 4.035]
    names = np.array(list(HAND))
    assert names[rank(cos, cos_e, "semantic", 3)[0]].tolist() == ["A", "B", "C"]
    assert names[rank(cos, cos_e, "combination", 3, emotion_weight=0.3)[0]].tolist() == ["A", "B", "C"]
    assert names[rank(cos, cos_e, "combination", 3, emotion_weight=0.6)[0]].tolist() == ["B", "A", "C"]
    assert names[rank(cos, cos_e, "sequential", 3, pool=20)[0]].tolist() == ["B", "C", "A"]
    # A pool of 2 keeps only A and B for the emotion re-rank; C comes after, in semantic order.
    assert names[rank(cos, cos_e, "sequential", 3, pool=2)[0]].tolist() == ["B", "A", "C"]
    # w = 0: combination is semantic; w = 1: emotion only (ties by meaning).
    assert names[rank(cos, cos_e, "combination", 3, emotion_weight=0.0)[0]].tolist() == ["A", "B", "C"]
    assert names[rank(cos, cos_e, "combination", 3, emotion_weight=1.0)[0]].tolist() == ["B", "C", "A"]


def test_hand_checked_ranking_through_faiss_and_character_memory(store, character, tmp_path):
    texts = {f"memory {n}": _unit(c) for n, (c, _) in HAND.items()}
    texts["what I feel now"] = _unit(1.0)
    mem = make_memory(store, tmp_path, BagOfWordsEmbedder(texts), strategy="combination", emotion_weight=0.6)
    for n, (_, label) in HAND.items():
        mem.add(character.id, [f"memory {n}"], emotion=label)
    got = mem.recall(character.id, "ann", "what I feel now", emotion=reading("sad"), k=3)
    assert [m.text for m in got] == ["memory B", "memory A", "memory C"]
    # score = 1 - d / d_max, d_max = 0.4 * 2 / 0.10 + 0.6 / 0.33 = 9.8182
    assert got[0].score == pytest.approx(1 - 1.6 / 9.8182, abs=1e-4)
    assert got[0].semantic_score == pytest.approx(0.6, abs=1e-5) and got[0].emotion_score == pytest.approx(1.0)
    sem = mem.recall(character.id, "ann", "what I feel now", emotion=reading("sad"), k=3, strategy="semantic")
    assert [m.text for m in sem] == ["memory A", "memory B", "memory C"]
    seq = mem.recall(character.id, "ann", "what I feel now", emotion=reading("sad"), k=3, strategy="sequential")
    assert [m.text for m in seq] == ["memory B", "memory C", "memory A"]
    # Without a query emotion every strategy is semantic.
    none = mem.recall(character.id, "ann", "what I feel now", k=3)
    assert [m.text for m in none] == ["memory A", "memory B", "memory C"]


def test_combination_search_is_exact_for_any_weight():
    rng = np.random.default_rng(0)
    sem = rng.normal(size=(300, 384)).astype(np.float32)
    sem /= np.linalg.norm(sem, axis=1, keepdims=True)
    labels = rng.choice(["sad", "joyful", "afraid", "angry", "nostalgic"], size=300)
    emo = np.stack([label_point(label) for label in labels])
    index = MemoryIndex.build([str(i) for i in range(300)], sem, emo)
    q, q_e = sem[0] * 0.5 + sem[1] * 0.5, label_point("sad")
    q /= np.linalg.norm(q)
    for w in (0.0, 0.3, 0.8):
        brute = np.argsort(combined_distance(sem @ q, emo @ q_e, w), kind="stable")[:10]
        got = [r.row for r in retrieve([index], q, q_e, "combination", 10, emotion_weight=w)]
        assert got == brute.tolist()


# -- emotion vectors ---------------------------------------------------------------------------

def test_emotion_vectors():
    assert PLUTCHIK8[int(label_point("anxious").argmax())] == "fear"
    mixed = emotion_vector(EmotionReading("sad", 0.5, top_k=(("sad", 0.5), ("joyful", 0.5))))
    assert mixed[PLUTCHIK8.index("sadness")] == pytest.approx(mixed[PLUTCHIK8.index("joy")])
    assert np.linalg.norm(emotion_vector(None)) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="unknown emotion"):
        label_point("hangry")
    with pytest.raises(ValueError, match="shape"):
        emotion_vector(np.ones(5))


# -- per-user isolation ------------------------------------------------------------------------

def test_user_b_never_recalls_user_a_dialogue(store, character, tmp_path):
    mem = make_memory(store, tmp_path)
    mem.add(character.id, ["I grew up by the sea."], kind="profile")
    units = mem.exchange_memories(character.id, "alice", "My cat Whiskers died yesterday.", "I am so sorry.",
                                  emotion=reading("sad"))
    store.add_memories(units)  # what commit_turn does with them
    query = "my cat Whiskers died"
    for strategy in ("semantic", "combination", "sequential"):
        for_bob = mem.recall(character.id, "bob", query, emotion=reading("sad"), k=10, strategy=strategy)
        assert all("Whiskers" not in m.text for m in for_bob)
        assert [m.text for m in for_bob] == ["I grew up by the sea."]
        for_alice = mem.recall(character.id, "alice", query, emotion=reading("sad"), k=10, strategy=strategy)
        assert "Whiskers" in for_alice[0].text and for_alice[0].kind == "dialogue"
    assert all(m.user_id in (None, "bob") for m in mem.list(character.id, user_id="bob"))
    # A dialogue memory must say whose it is.
    with pytest.raises(ValueError, match="user_id"):
        mem.add(character.id, ["hello"], kind="dialogue")


# -- the index life cycle ----------------------------------------------------------------------

def test_new_turn_memories_are_picked_up_incrementally(store, character, tmp_path):
    embedder = BagOfWordsEmbedder()
    mem = make_memory(store, tmp_path, embedder)
    mem.add(character.id, ["I kept a lighthouse for years."], emotion="proud")
    assert mem.recall(character.id, "ann", "exam results", k=4)[0].text.startswith("I kept")
    enc = type("Enc", (), {"sentence": embedder.encode(["I failed my exam"])[0]})()
    calls = embedder.calls
    units = mem.exchange_memories(character.id, "ann", "I failed my exam", "That hurts.",
                                  emotion=reading("disappointed"), encoding=enc)
    assert embedder.calls == calls  # the turn's encoding is reused, nothing embedded again
    assert units[0].emotion == "disappointed" and units[0].id is None
    store.add_memories(units)
    got = mem.recall(character.id, "ann", "I failed my exam", emotion=reading("disappointed"), k=1, encoding=enc)
    assert "I failed my exam" in got[0].text
    manifest = json.loads((tmp_path / "home/indexes" / character.id / "user-ann.json").read_text())
    assert manifest["count"] == 1 and manifest["version"] == store.memory_version(character.id)


def test_corrupt_or_mismatched_index_is_rebuilt(store, character, tmp_path):
    mem = make_memory(store, tmp_path)
    mem.add(character.id, ["I grew up by the sea.", "My brother was lost at sea."], emotion="sad")
    expected = [m.text for m in mem.recall(character.id, "ann", "the sea", k=2)]
    stem = tmp_path / "home/indexes" / character.id / "character"
    damages = [
        lambda: stem.with_suffix(".faiss").write_bytes(b"not a faiss index"),
        lambda: stem.with_suffix(".ids.json").write_text('["only-one-id"]'),
        lambda: stem.with_suffix(".json").write_text(
            json.dumps({**json.loads(stem.with_suffix(".json").read_text()), "semantic_dim": 768})),
        lambda: stem.with_suffix(".faiss").unlink(),
    ]
    for damage in damages:
        damage()
        with pytest.raises(IndexCorrupt):
            MemoryIndex.load(stem)
        fresh = make_memory(store, tmp_path)  # a new process: nothing cached
        assert [m.text for m in fresh.recall(character.id, "ann", "the sea", k=2)] == expected
        assert len(MemoryIndex.load(stem)) == 2  # rewritten, whole


def test_rebuild_and_approximate_index(store, character, tmp_path):
    mem = make_memory(store, tmp_path, approximate_threshold=5)
    texts = [f"memory number {w} about the sea" for w in "one two three four five six".split()]
    mem.add(character.id, texts[:3], emotion="nostalgic")
    assert mem._collection(character.id, "").kind == "flat"
    mem.add(character.id, texts[3:], emotion="nostalgic")  # crosses the threshold
    assert mem._collection(character.id, "").kind == "pq"
    assert mem.rebuild(character.id) == 6
    got = mem.recall(character.id, None, "memory number five about the sea", k=1)
    assert got[0].text == texts[4]


def test_pq_index_reranks_exactly_and_round_trips(tmp_path):
    # 2,000 random memories: the code scan plus exact re-ranking of 20 x k candidates must find
    # the exact top 10 of a combined query, and reconstruct the stored vectors bit for bit.
    rng = np.random.default_rng(1)
    sem = rng.normal(size=(2000, 384)).astype(np.float32)
    sem /= np.linalg.norm(sem, axis=1, keepdims=True)
    labels = rng.choice(["sad", "joyful", "afraid", "angry", "nostalgic"], size=2000)
    emo = np.stack([label_point(label) for label in labels]).astype(np.float32)
    index = MemoryIndex.build([str(i) for i in range(2000)], sem, emo, approximate_threshold=1000)
    assert index.kind == "pq"
    hits = 0
    for j in range(10):
        q, q_e = sem[j] + 0.5 * sem[j + 1], label_point("sad")
        q /= np.linalg.norm(q)
        brute = np.argsort(combined_distance(sem @ q, emo @ q_e, 0.3), kind="stable")[:10]
        hits += len(set(brute.tolist()) & {r.row for r in retrieve([index], q, q_e, "combination", 10)})
    assert hits >= 98  # recall@10 >= 0.98 against exact search
    s, e = index.vectors(np.array([5, 1999]))
    assert np.array_equal(s, sem[[5, 1999]]) and np.allclose(e, emo[[5, 1999]])
    index.save(tmp_path / "pq")
    loaded = MemoryIndex.load(tmp_path / "pq")
    assert loaded.kind == "pq" and len(loaded) == 2000
    q = np.concatenate([sem[7], np.zeros(8, np.float32)])
    assert loaded.search(q, 3)[1].tolist() == index.search(q, 3)[1].tolist()
    assert loaded.search(q, 1)[1].tolist() == [7]
    loaded.add(["new"], sem[:1] * -1.0, emo[:1])  # incremental add after training
    assert loaded.search(np.concatenate([-sem[0], emo[0]]), 1)[1].tolist() == [2000]


def test_pq_index_trains_on_a_tiny_first_batch():
    sem = np.eye(3, 384, dtype=np.float32)
    index = MemoryIndex.build(["a", "b", "c"], sem, np.eye(3, 8, dtype=np.float32), kind="pq")
    assert index.search(np.concatenate([sem[1], np.zeros(8, np.float32)]), 3)[1].tolist()[0] == 1
    with pytest.raises(ValueError, match="kind"):
        MemoryIndex.empty("annoy")


def test_duplicates_skipped_and_empty_text_rejected(store, character, tmp_path):
    mem = make_memory(store, tmp_path)
    assert len(mem.add(character.id, ["I love the sea.", "I love the sea.  "], emotion="joyful")) == 1
    assert mem.add(character.id, "I love the sea.", emotion="joyful") == []  # a single text works too
    assert len(mem.add_profile(character)) == 1 and mem.add_profile(character) == []
    assert len(mem._collection(character.id, "")) == 2
    for bad in ("", "   "):
        with pytest.raises(ValueError, match="non-empty"):
            mem.add(character.id, [bad])
    with pytest.raises(ValueError, match="unknown emotion"):
        mem.add(character.id, ["A day at the fair."], emotion="hangry")
    assert mem.recall(character.id, "ann", "  ", k=3) == []
    with pytest.raises(ValueError, match="strategy"):
        mem.recall(character.id, "ann", "sea", strategy="bm25")


# -- character cards ---------------------------------------------------------------------------

def test_example_cards_load_and_install(store, tmp_path):
    for path in sorted(CARDS_DIR.iterdir()):
        character, units = load_card(path)
        assert isinstance(character.traits, Traits) and units
        assert {u.kind for u in units} <= {"profile", "experience"}
    mem = make_memory(store, tmp_path)
    character, added = install_card(CARDS_DIR / "theo.yaml", store, mem)
    assert character.traits.neuroticism > 0.8 and len(added) == 12
    again, added_again = install_card(CARDS_DIR / "theo.yaml", store, mem)
    assert again.id == character.id and added_again == []
    got = mem.recall(character.id, "ann", "I had a panic attack before my presentation", emotion=reading("anxious"), k=1)
    assert "panic attack" in got[0].text


@pytest.mark.parametrize("change, message", [
    (lambda c: c["traits"].pop("neuroticism"), "missing \\['neuroticism'\\]"),
    (lambda c: c["traits"].update(openness=1.4), "'openness' must be a number in \\[0, 1\\]"),
    (lambda c: c["traits"].update(grumpiness=0.5), "unknown \\['grumpiness'\\]"),
    (lambda c: c.pop("traits"), "'traits' is required"),
    (lambda c: c.pop("name"), "'name' is required"),
    (lambda c: c["experiences"].append({"text": "x", "emotion": "hangry"}), "unknown emotion 'hangry'"),
    (lambda c: c["experiences"].append({"text": " "}), "non-empty 'text'"),
])
def test_card_errors(tmp_path, change, message):
    card = json.loads((CARDS_DIR / "sol.json").read_text())
    change(card)
    path = tmp_path / "card.json"
    path.write_text(json.dumps(card))
    with pytest.raises(CardError, match=message):
        load_card(path)


def test_unparsable_or_missing_card(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed")
    with pytest.raises(CardError, match="cannot parse"):
        load_card(bad)
    with pytest.raises(CardError, match="not found"):
        load_card(tmp_path / "nope.yaml")


def test_graph_path_commit_turn_then_recall(tmp_path):
    """What the graph does: exchange_memories -> store.commit_turn -> next turn's recall."""
    from agent.records import TurnResult
    from agent.store.sql import SQLStore

    store = SQLStore.from_url(f"sqlite:///{tmp_path / 'kindred.db'}")
    character = store.save_character(Character(name="Theo"))
    session = store.create_session(character.id, "ann")
    mem = make_memory(store, tmp_path)
    assert mem.recall(character.id, "ann", "my sister's wedding", k=2) == []
    units = mem.exchange_memories(character.id, "ann", "My sister's wedding is on Saturday.", "How exciting!",
                                  emotion=reading("excited"))
    store.commit_turn(TurnResult(session_id=session.id, turn_index=0, user_text="My sister's wedding is on Saturday.",
                                 reply="How exciting!"), memories=units)
    got = mem.recall(character.id, "ann", "my sister's wedding", emotion=reading("anxious"), k=2)
    assert len(got) == 1 and got[0].kind == "dialogue" and got[0].emotion == "excited"
    assert mem.recall(character.id, "bob", "my sister's wedding", k=2) == []
    assert mem.rebuild(character.id) == 1  # ann has a session: her collection is rebuilt too
    store.close()


@pytest.mark.slow
def test_real_minilm_recalls_the_fitting_experience(tmp_path):
    """With the shipped MiniLM: the mood picks between two memories about the same topic."""
    pytest.importorskip("sentence_transformers")
    from agent.perception.embedder import SentenceEmbedder

    try:
        embedder = SentenceEmbedder.shared()
    except ImportError as exc:
        pytest.skip(str(exc))
    store = FakeStore()
    character, units = load_card(CARDS_DIR / "mira.yaml")
    character = store.save_character(character)
    mem = CharacterMemory(store, home=tmp_path, embedder=embedder)
    mem.add(character.id, units)
    query = "I can't stop thinking about my brother."
    sad = mem.recall(character.id, "ann", query, emotion=reading("devastated"), k=2)
    assert all("brother" in m.text for m in sad)
    assert {m.emotion for m in sad} == {"devastated", "lonely"}
    lonely = mem.recall(character.id, "ann", query, emotion=reading("lonely"), k=1, strategy="sequential")
    assert "alone" in lonely[0].text


def test_dry_run_with_an_unsaved_character_recalls_nothing(tmp_path):
    """``Agent.respond`` (what the evaluation uses) with memory on and a character that is not in
    the store: no memories, no error; a stored session with a vanished character still fails."""
    from agent import Agent, Settings, Utterance
    from tests.fakes import EchoChatModel

    settings = Settings.load(config_file=None, home=tmp_path)
    bot = Agent.from_settings(settings, chat_model=EchoChatModel(), encoder=None, detector=None,
                              cause_finder=None, transition=None, planner=None, safety=None,
                              memory=None)
    bot.context.memory = make_memory(bot.store, tmp_path)
    result = bot.respond([Utterance("user", "My sister's wedding is on Saturday.")])
    assert result.reply and result.memories == ()
    bot.close()
