"""`python -m notes migrate`: applies pending migrations (what the migrations Job runs)."""
import os
import sys

from . import db


def main(argv):
    if argv[1:] != ["migrate"]:
        print("usage: python -m notes migrate", file=sys.stderr)
        return 2
    path = os.environ.get("NOTES_DATABASE", "notes.sqlite3")
    applied = db.migrate(path)
    print(f"applied {len(applied)} migration(s) to {path}: {', '.join(applied) or 'none pending'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
