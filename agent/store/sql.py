"""SQLAlchemy implementation of ``Store``: a SQLite file by default, PostgreSQL (or any SQLAlchemy
database) by URL.

>>> store = SQLStore.from_url("sqlite://")  # in memory
>>> ada = store.save_character(Character("Ada"))
>>> store.create_session(ada.id, "u1").turn_count
0

SQLite runs in WAL mode (readers never wait for the writer) and write transactions start with
``BEGIN IMMEDIATE`` so that two writers queue on the lock instead of failing half-way when one
upgrades. A turn is one transaction: either everything of it is stored, or nothing.
"""

from __future__ import annotations

import hashlib
import time
import uuid
from collections.abc import Sequence
from typing import Any

import numpy as np
from sqlalchemy import (JSON, Boolean, Float, ForeignKey, Integer, LargeBinary, String, Text,
                        UniqueConstraint, create_engine, event, func, select)
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError, SQLAlchemyError
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, sessionmaker

from agent.records import VAD, Character, MemoryUnit, SessionInfo, Traits, TurnResult
from agent.store.base import NotFound, Store, StoreError


class Base(DeclarativeBase):
    pass


class CharacterRow(Base):
    __tablename__ = "characters"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    profile: Mapped[str] = mapped_column(Text, default="")
    traits: Mapped[dict] = mapped_column(JSON)
    memory_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[float] = mapped_column(Float)


class UserRow(Base):
    __tablename__ = "users"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    created_at: Mapped[float] = mapped_column(Float)


class SessionRow(Base):
    __tablename__ = "sessions"
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    character_id: Mapped[str] = mapped_column(ForeignKey("characters.id"), index=True)
    user_id: Mapped[str] = mapped_column(ForeignKey("users.id"), index=True)
    title: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[float] = mapped_column(Float)
    updated_at: Mapped[float] = mapped_column(Float, index=True)
    turn_count: Mapped[int] = mapped_column(Integer, default=0)
    agent_vad: Mapped[dict | None] = mapped_column(JSON, nullable=True)


class TurnRow(Base):
    __tablename__ = "turns"
    __table_args__ = (UniqueConstraint("session_id", "turn_index"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), index=True)
    turn_index: Mapped[int] = mapped_column(Integer)
    user_text: Mapped[str] = mapped_column(Text)
    reply: Mapped[str] = mapped_column(Text)
    annotations: Mapped[dict] = mapped_column(JSON)
    crisis: Mapped[bool] = mapped_column(Boolean, default=False, index=True)
    created_at: Mapped[float] = mapped_column(Float)


class MemoryRow(Base):
    __tablename__ = "memories"
    # ``scope`` is the user id or "" for the character's own memories: NULLs are distinct in
    # unique constraints, so the user id itself cannot serve for de-duplication.
    __table_args__ = (UniqueConstraint("character_id", "scope", "kind", "text_hash"),)
    id: Mapped[str] = mapped_column(String(36), primary_key=True)
    character_id: Mapped[str] = mapped_column(ForeignKey("characters.id"), index=True)
    user_id: Mapped[str | None] = mapped_column(String(200), nullable=True, index=True)
    scope: Mapped[str] = mapped_column(String(200), default="")
    kind: Mapped[str] = mapped_column(String(20))
    text: Mapped[str] = mapped_column(Text)
    text_hash: Mapped[str] = mapped_column(String(64))
    emotion: Mapped[str | None] = mapped_column(String(40), nullable=True)
    emotion_vector: Mapped[list] = mapped_column(JSON, default=list)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    created_at: Mapped[float] = mapped_column(Float)


def _sqlite_pragmas(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_conn, _record):  # pragma: no cover - exercised by every sqlite test
        # Take transaction control from the driver so that BEGIN IMMEDIATE below is honoured.
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL survives a process crash
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @event.listens_for(engine, "begin")
    def on_begin(conn):  # pragma: no cover
        conn.exec_driver_sql("BEGIN IMMEDIATE")


class SQLStore(Store):
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._session = sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, *, setup: bool = True, **engine_kwargs: Any) -> SQLStore:
        """Open the database at ``url`` and (by default) create the tables if they are missing."""
        if url.startswith("sqlite"):
            path = url.split("///", 1)[1] if "///" in url else ""
            if path:
                from pathlib import Path

                Path(path).expanduser().parent.mkdir(parents=True, exist_ok=True)
            engine_kwargs.setdefault("connect_args", {"check_same_thread": False, "timeout": 30})
        elif url.startswith("postgresql"):
            try:
                import psycopg  # noqa: F401
            except ImportError as exc:
                raise ImportError("PostgreSQL needs `pip install 'kindred-agent[postgres]'`") from exc
            engine_kwargs.setdefault("pool_pre_ping", True)
        engine = create_engine(url, **engine_kwargs)
        if engine.dialect.name == "sqlite":
            _sqlite_pragmas(engine)
        store = cls(engine)
        if setup:
            store.setup()
        return store

    def setup(self) -> None:
        """Create the tables if missing (idempotent)."""
        Base.metadata.create_all(self.engine)

    def close(self) -> None:
        self.engine.dispose()

    # -- characters ----------------------------------------------------------------------------
    def save_character(self, character: Character) -> Character:
        now = time.time()
        with self._write("save_character") as db:
            if character.id and (row := db.get(CharacterRow, character.id)) is not None:
                row.name, row.profile = character.name, character.profile
                row.traits = character.traits.to_dict()
            else:
                row = CharacterRow(id=character.id or str(uuid.uuid4()), name=character.name,
                                   profile=character.profile, traits=character.traits.to_dict(),
                                   memory_version=0, created_at=now)
                db.add(row)
            db.flush()
            return _character(row)

    def get_character(self, id_or_name: str) -> Character:
        with self._session() as db:
            row = db.get(CharacterRow, id_or_name) or db.scalar(
                select(CharacterRow).where(CharacterRow.name == id_or_name))
            if row is None:
                raise NotFound(f"no character with id or name {id_or_name!r}")
            return _character(row)

    def list_characters(self) -> list[Character]:
        with self._session() as db:
            return [_character(r) for r in db.scalars(select(CharacterRow).order_by(CharacterRow.name))]

    # -- users and sessions --------------------------------------------------------------------
    def ensure_user(self, user_id: str) -> str:
        if not user_id or not user_id.strip():
            raise ValueError("user id must be a non-empty string")
        try:
            with self._write("ensure_user") as db:
                if db.get(UserRow, user_id) is None:
                    db.add(UserRow(id=user_id, created_at=time.time()))
        except StoreError as exc:
            # Two sessions of a new user may race to create it; the loser finds it there.
            if not isinstance(exc.__cause__, IntegrityError):
                raise
        return user_id

    def create_session(self, character_id: str, user_id: str, title: str = "") -> SessionInfo:
        character = self.get_character(character_id)
        self.ensure_user(user_id)
        now = time.time()
        with self._write("create_session") as db:
            row = SessionRow(id=str(uuid.uuid4()), character_id=character.id, user_id=user_id,
                             title=title[:200], created_at=now, updated_at=now, turn_count=0)
            db.add(row)
            db.flush()
            return _session(row)

    def get_session(self, session_id: str) -> SessionInfo:
        with self._session() as db:
            row = db.get(SessionRow, session_id) if isinstance(session_id, str) else None
            if row is None:
                raise NotFound(f"no session with id {session_id!r}")
            return _session(row)

    def list_sessions(self, *, character_id: str | None = None, user_id: str | None = None) -> list[SessionInfo]:
        query = select(SessionRow).order_by(SessionRow.updated_at.desc())
        if character_id:
            query = query.where(SessionRow.character_id == character_id)
        if user_id:
            query = query.where(SessionRow.user_id == user_id)
        with self._session() as db:
            return [_session(r) for r in db.scalars(query)]

    # -- turns ---------------------------------------------------------------------------------
    def commit_turn(self, result: TurnResult, *, agent_vad: VAD | None = None,
                    memories: Sequence[MemoryUnit] = ()) -> TurnResult:
        now = time.time()
        with self._write("commit_turn") as db:
            # Row lock on PostgreSQL; SQLite's BEGIN IMMEDIATE already serialises writers.
            session = db.scalar(select(SessionRow).where(SessionRow.id == result.session_id).with_for_update())
            if session is None:
                raise NotFound(f"no session with id {result.session_id!r}")
            index = session.turn_count
            stored = TurnResult.from_dict({**result.to_dict(), "turn_index": index})
            annotations = stored.to_dict()
            for key in ("session_id", "turn_index", "user_text", "reply"):
                annotations.pop(key)
            db.add(TurnRow(session_id=session.id, turn_index=index, user_text=stored.user_text,
                           reply=stored.reply, annotations=annotations,
                           crisis=bool(stored.safety.risk), created_at=now))
            session.turn_count = index + 1
            session.updated_at = now
            if agent_vad is not None:
                session.agent_vad = agent_vad.to_dict()
            if not session.title:
                session.title = stored.user_text[:60]
            self._insert_memories(db, memories)
            return stored

    def list_turns(self, session_id: str, *, last: int | None = None) -> list[TurnResult]:
        query = select(TurnRow).where(TurnRow.session_id == session_id).order_by(TurnRow.turn_index.desc())
        if last is not None:
            query = query.limit(last)
        with self._session() as db:
            rows = list(db.scalars(query))[::-1]
        return [TurnResult.from_dict({**r.annotations, "session_id": r.session_id,
                                      "turn_index": r.turn_index, "user_text": r.user_text,
                                      "reply": r.reply}) for r in rows]

    # -- memory units --------------------------------------------------------------------------
    def add_memories(self, memories: Sequence[MemoryUnit]) -> list[MemoryUnit]:
        with self._write("add_memories") as db:
            return self._insert_memories(db, memories)

    def _insert_memories(self, db: Session, memories: Sequence[MemoryUnit]) -> list[MemoryUnit]:
        added: list[MemoryUnit] = []
        seen: set[tuple] = set()
        touched: set[str] = set()
        for unit in memories:
            text_hash = hashlib.sha256(unit.text.strip().encode("utf-8")).hexdigest()
            key = (unit.character_id, unit.user_id or "", unit.kind, text_hash)
            if key in seen or db.scalar(select(MemoryRow.id).where(
                    MemoryRow.character_id == key[0], MemoryRow.scope == key[1],
                    MemoryRow.kind == key[2], MemoryRow.text_hash == key[3])) is not None:
                continue  # an exact duplicate of a stored memory
            seen.add(key)
            row = MemoryRow(
                id=unit.id or str(uuid.uuid4()), character_id=unit.character_id,
                user_id=unit.user_id, scope=unit.user_id or "", kind=unit.kind, text=unit.text,
                text_hash=text_hash, emotion=unit.emotion,
                emotion_vector=[float(x) for x in unit.emotion_vector],
                embedding=np.asarray(unit.embedding, dtype=np.float32).tobytes() if len(unit.embedding) else None,
                created_at=unit.created_at or time.time())
            db.add(row)
            touched.add(unit.character_id)
            added.append(_memory(row))
        for character_id in touched:
            character = db.get(CharacterRow, character_id)
            if character is None:
                raise NotFound(f"no character with id {character_id!r}")
            character.memory_version += 1
        return added

    def list_memories(self, character_id: str, *, user_id: str | None = None,
                      include_shared: bool = True, kinds: Sequence[str] | None = None) -> list[MemoryUnit]:
        query = select(MemoryRow).where(MemoryRow.character_id == character_id)
        scopes = ([""] if include_shared else []) + ([user_id] if user_id else [])
        query = query.where(MemoryRow.scope.in_(scopes))
        if kinds:
            query = query.where(MemoryRow.kind.in_(list(kinds)))
        with self._session() as db:
            return [_memory(r) for r in db.scalars(query.order_by(MemoryRow.created_at, MemoryRow.id))]

    def memory_version(self, character_id: str) -> str:
        with self._session() as db:
            row = db.get(CharacterRow, character_id)
            if row is None:
                raise NotFound(f"no character with id {character_id!r}")
            count = db.scalar(select(func.count()).select_from(MemoryRow).where(
                MemoryRow.character_id == character_id))
            return f"{row.memory_version}:{count}"

    # -- plumbing ------------------------------------------------------------------------------
    def _write(self, operation: str) -> _WriteTransaction:
        return _WriteTransaction(self._session, operation)


class _WriteTransaction:
    """``with`` block around one write transaction; database errors become ``StoreError`` naming
    the operation, and nothing of a failed block is kept."""

    def __init__(self, factory: sessionmaker, operation: str) -> None:
        self.factory, self.operation = factory, operation

    def __enter__(self) -> Session:
        self.db = self.factory()
        self.db.begin()
        return self.db

    def __exit__(self, exc_type, exc, tb) -> bool:
        try:
            if exc_type is None:
                self.db.commit()
            else:
                self.db.rollback()
        except SQLAlchemyError as commit_error:
            self.db.rollback()
            raise StoreError(f"{self.operation} failed: {commit_error}") from commit_error
        finally:
            self.db.close()
        if exc is not None and isinstance(exc, SQLAlchemyError):
            raise StoreError(f"{self.operation} failed: {exc}") from exc
        return False


def _character(row: CharacterRow) -> Character:
    return Character(name=row.name, profile=row.profile, traits=Traits(**row.traits), id=row.id)


def _session(row: SessionRow) -> SessionInfo:
    return SessionInfo(id=row.id, character_id=row.character_id, user_id=row.user_id,
                       title=row.title, created_at=row.created_at, updated_at=row.updated_at,
                       turn_count=row.turn_count, agent_vad=VAD.from_dict(row.agent_vad))


def _memory(row: MemoryRow) -> MemoryUnit:
    embedding = tuple(np.frombuffer(row.embedding, dtype=np.float32).tolist()) if row.embedding else ()
    return MemoryUnit(character_id=row.character_id, kind=row.kind, text=row.text, id=row.id,
                      user_id=row.user_id, emotion=row.emotion,
                      emotion_vector=tuple(row.emotion_vector or ()), embedding=embedding,
                      created_at=row.created_at)

