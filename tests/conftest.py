"""Shared fixtures. Tests that need the research data sets use ``data_dir`` and skip, with the
reason, when the data is absent (a user's clone has no ../shared)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("KINDRED_DATA_DIR", REPO.parent / "shared" / "data"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    if not DATA_DIR.exists():
        pytest.skip(f"research data sets not found at {DATA_DIR} (set KINDRED_DATA_DIR)")
    return DATA_DIR


def _find_pg_bin() -> Path | None:
    import glob
    import shutil

    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


@pytest.fixture(scope="session")
def postgres_url():
    """A real PostgreSQL server for the store tests: ``$KINDRED_TEST_POSTGRES_URL`` if set, else a
    throwaway cluster started here on a free loopback port (Debian's ``postgresql`` package)."""
    import shutil
    import socket
    import subprocess

    if os.environ.get("KINDRED_TEST_POSTGRES_URL"):
        yield os.environ["KINDRED_TEST_POSTGRES_URL"]
        return
    pg_bin = _find_pg_bin()
    if pg_bin is None:
        pytest.skip("PostgreSQL is not installed (apt-get install postgresql) and "
                    "KINDRED_TEST_POSTGRES_URL is not set")
    import tempfile

    # Not under pytest's tmp tree: that is private to root, and the server runs as `postgres`.
    root = Path(tempfile.mkdtemp(prefix="kindred-pg-"))
    data = root / "data"
    # initdb refuses to run as root; run the server as the package's `postgres` user then.
    prefix: list[str] = []
    if os.geteuid() == 0:
        runuser = shutil.which("runuser")
        if runuser is None:
            pytest.skip("running as root without runuser: cannot start PostgreSQL")
        shutil.chown(root, "postgres")
        prefix = [runuser, "-u", "postgres", "--"]
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    subprocess.run([*prefix, str(pg_bin / "initdb"), "-D", str(data), "-U", "kindred",
                    "--auth=trust", "-E", "UTF8"], check=True, capture_output=True)
    subprocess.run([*prefix, str(pg_bin / "pg_ctl"), "-D", str(data), "-l", str(root / "log"),
                    "-o", f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "-w", "start"],
                   check=True, capture_output=True)
    try:
        subprocess.run([*prefix, str(pg_bin / "createdb"), "-h", "127.0.0.1", "-p", str(port),
                        "-U", "kindred", "kindred"], check=True, capture_output=True)
        yield f"postgresql+psycopg://kindred@127.0.0.1:{port}/kindred"
    finally:
        subprocess.run([*prefix, str(pg_bin / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"],
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """Each store test runs on a SQLite file and on a real PostgreSQL server."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'kindred.db'}"
    url = request.getfixturevalue("postgres_url")
    # A fresh schema per test: drop what the previous test left.
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    engine.dispose()
    return url
