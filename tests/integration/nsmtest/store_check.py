"""Reading nsm's database from tests (after the daemon stopped): which monitors it
holds and whether SQLite's integrity check passes. Schema: docs/store.md."""
import os
import sqlite3


def db_path(state_dir):
    return os.path.join(state_dir, "nsm.db")


def monitors(state_dir):
    """{(mon_name, my_name): priv bytes} of every stored monitor."""
    con = sqlite3.connect(db_path(state_dir))
    try:
        return {(m, n): bytes(p) for m, n, p in
                con.execute("SELECT mon_name, my_name, priv FROM monitors")}
    finally:
        con.close()


def integrity(state_dir):
    con = sqlite3.connect(db_path(state_dir))
    try:
        return con.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        con.close()
