"""SQLite access and a minimal migration runner: numbered .sql files applied once, in order."""
import sqlite3
from pathlib import Path

MIGRATIONS = Path(__file__).parent / "migrations"


def connect(path):
    connection = sqlite3.connect(path, timeout=10)
    connection.execute("PRAGMA journal_mode=WAL")
    return connection


def migrate(path):
    """Applies every migrations/NNNN_*.sql not yet recorded; returns the names applied."""
    applied = []
    with connect(path) as connection:
        connection.execute("CREATE TABLE IF NOT EXISTS schema_migrations (name TEXT PRIMARY KEY)")
        done = {row[0] for row in connection.execute("SELECT name FROM schema_migrations")}
        for script in sorted(MIGRATIONS.glob("*.sql")):
            if script.name in done:
                continue
            connection.executescript(script.read_text())
            connection.execute("INSERT INTO schema_migrations (name) VALUES (?)", (script.name,))
            applied.append(script.name)
    return applied


def add_note(path, text):
    with connect(path) as connection:
        return connection.execute("INSERT INTO notes (text) VALUES (?)", (text,)).lastrowid


def list_notes(path, limit=50):
    with connect(path) as connection:
        return connection.execute("SELECT id, text FROM notes ORDER BY id DESC LIMIT ?", (limit,)).fetchall()
