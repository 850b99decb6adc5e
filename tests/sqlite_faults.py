"""SQLite databases broken on purpose, for the restore drill's integrity checks."""

import sqlite3


def mismatch_orders_index(conn: sqlite3.Connection) -> None:
    """Rewrite the definition of index orders_item (on orders.item) to name orders.id: the
    index no longer matches its entries, so integrity_check reports every row missing from it."""
    conn.execute("PRAGMA writable_schema = ON")
    conn.execute(
        "UPDATE sqlite_master SET sql = 'CREATE INDEX orders_item ON orders (id)' "
        "WHERE name = 'orders_item'"
    )
    conn.commit()
