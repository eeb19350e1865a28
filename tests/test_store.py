"""The store's contract, run on every backend: a SQLite file and a real PostgreSQL server."""

from __future__ import annotations

import threading

import pytest

from agent.records import (VAD, Character, EmotionReading, MemoryUnit, SafetyVerdict, Traits,
                           TurnResult)
from agent.store import NotFound, StoreError, open_store


@pytest.fixture
def store(store_url):
    s = open_store(store_url)
    yield s
    s.close()


def _turn(session_id, text, **kw):
    return TurnResult(session_id=session_id, turn_index=-1, user_text=text, reply=f"re: {text}", **kw)


def test_characters_round_trip(store):
    ada = store.save_character(Character("Ada", "A nurse.", Traits(neuroticism=0.1)))
    assert store.get_character(ada.id) == ada == store.get_character("Ada")
    store.save_character(Character("Ada", "A retired nurse.", ada.traits, id=ada.id))
    assert store.get_character("Ada").profile == "A retired nurse."
    assert [c.name for c in store.list_characters()] == ["Ada"]
    with pytest.raises(NotFound):
        store.get_character("Bob")


def test_turns_are_numbered_and_keep_annotations(store):
    ada = store.save_character(Character("Ada"))
    session = store.create_session(ada.id, "sam")
    emotion = EmotionReading("sad", 0.7, (("sad", 0.7), ("lonely", 0.2)), "sadness", -0.6)
    first = store.commit_turn(_turn(session.id, "hi", emotion=emotion), agent_vad=VAD(-0.2, 0.1, 0.0))
    second = store.commit_turn(_turn(session.id, "help", safety=SafetyVerdict(True, "suicide", 0.9)))
    assert (first.turn_index, second.turn_index) == (0, 1)
    turns = store.list_turns(session.id)
    assert turns[0].emotion == emotion and turns[1].safety.risk
    assert store.list_turns(session.id, last=1)[0].user_text == "help"
    info = store.get_session(session.id)
    assert info.turn_count == 2 and info.agent_vad == VAD(-0.2, 0.1, 0.0) and info.title == "hi"


def test_commit_turn_is_all_or_nothing(store):
    ada = store.save_character(Character("Ada"))
    session = store.create_session(ada.id, "sam")
    bad_memory = MemoryUnit("no-such-character", "dialogue", "text", user_id="sam")
    with pytest.raises(StoreError):
        store.commit_turn(_turn(session.id, "hi"), memories=[bad_memory])
    assert store.list_turns(session.id) == [] and store.get_session(session.id).turn_count == 0


def test_memories_are_scoped_per_user_and_deduplicated(store):
    ada = store.save_character(Character("Ada"))
    v0 = store.memory_version(ada.id)
    store.add_memories([MemoryUnit(ada.id, "experience", "I grew up by the sea.", emotion="nostalgic",
                                   embedding=(0.5, -0.5))])
    store.add_memories([MemoryUnit(ada.id, "dialogue", "Sam's dog died.", user_id="sam")])
    store.add_memories([MemoryUnit(ada.id, "dialogue", "Kim got a job.", user_id="kim")])
    assert store.add_memories([MemoryUnit(ada.id, "experience", "I grew up by the sea.")]) == []
    assert store.memory_version(ada.id) != v0
    sam = {m.text for m in store.list_memories(ada.id, user_id="sam")}
    assert sam == {"I grew up by the sea.", "Sam's dog died."}
    assert {m.text for m in store.list_memories(ada.id, user_id="kim", include_shared=False)} == {"Kim got a job."}
    sea = store.list_memories(ada.id, kinds=["experience"])[0]
    assert sea.embedding == (0.5, -0.5) and sea.emotion == "nostalgic"


def test_sessions_listed_most_recent_first(store):
    ada = store.save_character(Character("Ada"))
    a = store.create_session(ada.id, "sam")
    b = store.create_session(ada.id, "kim")
    store.commit_turn(_turn(a.id, "later"))
    assert [s.id for s in store.list_sessions()] == [a.id, b.id]
    assert [s.id for s in store.list_sessions(user_id="kim")] == [b.id]
    with pytest.raises(NotFound):
        store.get_session("nope")


def test_concurrent_writers_never_lose_or_duplicate_turns(store):
    ada = store.save_character(Character("Ada"))
    session = store.create_session(ada.id, "sam")
    errors = []

    def writer(w):
        try:
            for i in range(10):
                store.commit_turn(_turn(session.id, f"w{w}-{i}"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    turns = store.list_turns(session.id)
    assert sorted(t.turn_index for t in turns) == list(range(40))
    assert len({t.user_text for t in turns}) == 40


async def test_async_twins(store):
    ada = await store.asave_character(Character("Ada"))
    session = await store.acreate_session(ada.id, "sam")
    await store.acommit_turn(_turn(session.id, "hi"))
    assert [t.user_text for t in await store.alist_turns(session.id)] == ["hi"]


def test_sqlite_runs_in_wal_mode(tmp_path):
    from sqlalchemy import text

    s = open_store(f"sqlite:///{tmp_path / 'x.db'}")
    with s.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
    s.close()
