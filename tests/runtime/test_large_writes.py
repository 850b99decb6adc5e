"""A write forwarded by a replica that does not fit in one gRPC message is lost, and the replica
reports it as a success. Pinned with the real @libsql/client through run.sh's primary and replica
(gRPC mutual TLS, as in production), so an sqld upgrade that changes any of it fails here.

Why (sqld 0.24.32, tursodatabase/libsql at 40c272de, the commit `sqld --version` prints):
- A replica forwards each Hrana request to the primary as one `ExecReq` message on a gRPC
  stream (libsql-server/src/connection/write_proxy.rs, RemoteConnection::make_request).
- The primary's gRPC server is `ProxyServer::new(proxy_service)` with no
  `max_decoding_message_size` (libsql-server/src/rpc/mod.rs), so tonic 0.11's default applies:
  `DEFAULT_MAX_RECV_MESSAGE_SIZE: usize = 4 * 1024 * 1024` (tonic/src/codec/mod.rs). No sqld flag
  or environment variable changes it.
- A bigger message fails to decode on the primary; its stream handler logs it and ends the
  response stream normally (rpc/streaming_exec.rs: `Err(e) => { tracing::error!("stream error:
  {e}"); break }`), and the replica takes a response stream that ends without an answer as
  success (write_proxy.rs: `while let Some(resp) = self.response_stream.next().await {..}`
  then `Ok(arg)`), so Hrana answers `ok` with an untouched result: 0 rows affected.
- Batches and interactive transactions fail loudly instead: @libsql/client finds no result for
  a step it sent and raises TRANSACTION_CLOSED (a transaction's commit then gets HTTP 500).
  Their framing is a little larger: measured, one blob passes up to 4_194_137 bytes in
  client.batch([stmt], "write") and 4_194_187 in a transaction, against 4_194_216 in execute().
"""

from __future__ import annotations

import json
import urllib.request

import pytest

from tests.runtime.cluster import Node

# tonic's DEFAULT_MAX_RECV_MESSAGE_SIZE, which the primary's gRPC server keeps.
GRPC_LIMIT = 4 * 1024 * 1024

TABLE = "large_writes"
INSERT = f"INSERT INTO {TABLE} (v) VALUES (?)"


def varint_len(n: int) -> int:
    return max(1, (n.bit_length() + 6) // 7)


def statement_bytes(sql: str) -> int:
    """The SQL text in the forwarded message: protobuf tag, varint length, text."""
    return 1 + varint_len(len(sql.encode())) + len(sql.encode())


# The forwarded message (ExecReq) for one statement, measured byte-exact, and it adds up:
# - with one bound text or blob value: its bincode header (4-byte variant, 8-byte length) = 12,
#   and seven nested length-delimited protobuf fields around a multi-MiB value (Value.data,
#   Positional.values, Query.positional, Step.query, Program.steps, StreamProgramReq.pgm,
#   ExecReq.execute), 1-byte tag + 4-byte length each = 35;
# - with the value inlined in the SQL text: the last four of those fields = 20, and the empty
#   positional parameter list = 2.
BOUND_VALUE_FRAMING = 47
INLINE_FRAMING = 22


def largest_bound_value(sql: str = INSERT) -> int:
    return GRPC_LIMIT - BOUND_VALUE_FRAMING - statement_bytes(sql)


def inline_insert(size: int) -> str:
    return f"INSERT INTO {TABLE} (v) VALUES ('{'x' * size}')"


LARGEST_BOUND_VALUE = largest_bound_value()  # 4_194_216 bytes: 4 MiB - 88
# A multi-MiB statement's text costs a tag and a 4-byte length varint (1 + 4) besides itself.
LARGEST_INLINE_TEXT = GRPC_LIMIT - INLINE_FRAMING - 5 - len(inline_insert(0))  # 4_194_237 bytes

# Straight to the primary, SQLite's limit applies: sqld sets SQLITE_LIMIT_LENGTH to the
# namespace's max_row_size, 5 MB by default (connection/config.rs `mb(5u64)`,
# connection_core.rs set_limit), which also bounds the row's record: 6 bytes of record header here.
PRIMARY_LARGEST_VALUE = 5_000_000 - 6


def blob(size: int, sql: str = INSERT) -> dict:
    return {"sql": sql, "args": [{"$blob": size}]}


def text(size: int) -> dict:
    return {"sql": INSERT, "args": [{"$text": size}]}


def client_request(client, mode: str, url: str, token: str, **fields) -> list:
    """libsql_client.cjs in any of its modes (LibsqlClient.run covers "run" only)."""
    return client.request({"mode": mode, "url": url, "authToken": token, **fields}, timeout=60)


@pytest.fixture(scope="module")
def tls_pair(module_launcher, grpc_tls) -> tuple[Node, Node]:
    """A primary and a replica started by run.sh with the cluster's gRPC mutual TLS."""
    return module_launcher.start_pair("large", grpc_tls)


@pytest.fixture
def pair(tls_pair, client, keys):
    """(primary, replica, token, stored) with an empty table; stored() lists the (type, length)
    of every row the primary holds, so a lost write shows as a missing row."""
    primary, replica = tls_pair
    token = keys.token()
    setup = client.run(
        primary.url,
        token,
        [f"CREATE TABLE IF NOT EXISTS {TABLE} (id INTEGER PRIMARY KEY, v)", f"DELETE FROM {TABLE}"],
    )
    assert all(r["ok"] for r in setup), setup

    def stored() -> list[list]:
        query = f"SELECT typeof(v), length(v) FROM {TABLE} ORDER BY id"
        (result,) = client.run(primary.url, token, [query])
        assert result["ok"], result
        return result["rows"]

    return primary, replica, token, stored


def outcome(result: dict):
    """What the application sees: rows affected on success, the error code otherwise."""
    return result["rowsAffected"] if result["ok"] else result["code"]


def test_write_just_under_the_grpc_limit_through_the_replica_lands(pair, client):
    primary, replica, token, stored = pair
    results = client.run(replica.url, token, [blob(LARGEST_BOUND_VALUE), text(LARGEST_BOUND_VALUE)])
    assert [outcome(r) for r in results] == [1, 1], results
    assert stored() == [["blob", LARGEST_BOUND_VALUE], ["text", LARGEST_BOUND_VALUE]]


def test_write_over_the_grpc_limit_through_the_replica_is_reported_as_success_and_lost(
    pair, client
):
    """One byte more is silently dropped: @libsql/client gets success with 0 rows affected.
    Even a value the primary itself would refuse (SQLITE_TOOBIG) is reported as success."""
    primary, replica, token, stored = pair
    too_big_for_sqlite = PRIMARY_LARGEST_VALUE + 1
    results = client.run(
        replica.url,
        token,
        [
            blob(LARGEST_BOUND_VALUE + 1),
            text(LARGEST_BOUND_VALUE + 1),
            blob(too_big_for_sqlite),
            {"sql": INSERT, "args": ["after the lost writes"]},
        ],
    )
    assert [(r["ok"], r["rowsAffected"]) for r in results] == [
        (True, 0),
        (True, 0),
        (True, 0),
        (True, 1),  # the replica keeps forwarding smaller writes
    ], results
    assert stored() == [["text", len("after the lost writes")]]

    # Only the primary's log tells: the message it could not decode (request + framing).
    log = primary.log_text()
    assert (
        f"message length too large: found {GRPC_LIMIT + 1} bytes, the limit is: {GRPC_LIMIT} bytes"
        in log
    )
    forwarded = too_big_for_sqlite + BOUND_VALUE_FRAMING + statement_bytes(INSERT)
    assert f"found {forwarded} bytes" in log


def test_replica_answers_http_200_ok_with_zero_rows_affected_for_a_lost_write(pair):
    """The same at the Hrana level, without the client in between."""
    primary, replica, token, stored = pair
    stmt = {"sql": INSERT, "args": [{"type": "text", "value": "x" * (LARGEST_BOUND_VALUE + 1)}]}
    body = {"requests": [{"type": "execute", "stmt": stmt}, {"type": "close"}]}
    request = urllib.request.Request(
        replica.url + "/v2/pipeline", data=json.dumps(body).encode(), method="POST"
    )
    request.add_header("Content-Type", "application/json")
    request.add_header("Authorization", f"Bearer {token}")
    with urllib.request.urlopen(request, timeout=30) as response:
        status, answer = response.status, json.load(response)
    first = answer["results"][0]
    assert (status, first["type"]) == (200, "ok"), answer
    result = first["response"]["result"]
    assert (result["affected_row_count"], result["last_insert_rowid"]) == (0, None), result
    assert stored() == []


def test_the_limit_is_on_the_whole_forwarded_message(pair, client):
    """SQL text counts like parameters: a longer statement leaves less room for the value, and
    a value inlined in the SQL text has the same budget (minus less framing). A blob inlined as
    X'..' hex costs two bytes of SQL per byte, so it gets half."""
    primary, replica, token, stored = pair
    padded = "/*" + "c" * 996 + "*/ " + INSERT  # 1001 more bytes of SQL text
    assert largest_bound_value(padded) == LARGEST_BOUND_VALUE - 1001 - 1  # +1 length byte
    hex_insert = f"INSERT INTO {TABLE} (v) VALUES (X'{{}}')"
    # Two SQL bytes per value byte.
    hex_largest = (GRPC_LIMIT - INLINE_FRAMING - 5 - len(hex_insert.format(""))) // 2
    assert hex_largest == 2_097_118
    for sql in (inline_insert(LARGEST_INLINE_TEXT), hex_insert.format("62" * hex_largest)):
        assert INLINE_FRAMING + statement_bytes(sql) in (GRPC_LIMIT, GRPC_LIMIT - 1)
    results = client.run(
        replica.url,
        token,
        [
            blob(largest_bound_value(padded), padded),
            blob(largest_bound_value(padded) + 1, padded),
            inline_insert(LARGEST_INLINE_TEXT),
            inline_insert(LARGEST_INLINE_TEXT + 1),
            hex_insert.format("62" * hex_largest),
            hex_insert.format("62" * (hex_largest + 1)),
        ],
    )
    assert [outcome(r) for r in results] == [1, 0, 1, 0, 1, 0], results
    assert stored() == [
        ["blob", largest_bound_value(padded)],
        ["text", LARGEST_INLINE_TEXT],
        ["blob", hex_largest],
    ]


def test_the_same_write_straight_to_the_primary_lands_up_to_sqlites_limit(pair, client):
    primary, replica, token, stored = pair
    results = client.run(
        primary.url,
        token,
        [
            blob(LARGEST_BOUND_VALUE + 1),
            inline_insert(LARGEST_INLINE_TEXT + 1),
            blob(PRIMARY_LARGEST_VALUE),
            blob(PRIMARY_LARGEST_VALUE + 1),
        ],
    )
    assert [outcome(r) for r in results] == [1, 1, 1, "SQLITE_TOOBIG"], results
    assert stored() == [
        ["blob", LARGEST_BOUND_VALUE + 1],
        ["text", LARGEST_INLINE_TEXT + 1],
        ["blob", PRIMARY_LARGEST_VALUE],
    ]


def test_batch_and_transaction_over_the_limit_through_the_replica_fail_loudly(pair, client):
    """The client-side way to a loud failure: client.batch() and client.transaction() get no
    result for the dropped step and raise TRANSACTION_CLOSED; nothing of them is written (the
    primary never decoded the batch, and the transaction's earlier statement is rolled back
    with the broken stream). execute() and executeMultiple() stay silent."""
    primary, replica, token, stored = pair
    too_big = LARGEST_BOUND_VALUE + 1
    small = {"sql": INSERT, "args": ["small"]}

    (batch,) = client_request(
        client, "batch", replica.url, token, statements=[small, blob(too_big)], txMode="write"
    )
    assert (batch["ok"], batch["code"]) == (False, "TRANSACTION_CLOSED"), batch
    assert "Statement in a batch was not executed" in batch["error"]

    tx = client_request(
        client, "transaction", replica.url, token, statements=[small, blob(too_big)], txMode="write"
    )
    # The commit is the replica's first request after its stream to the primary broke: 500.
    assert [outcome(r) for r in tx] == [1, "TRANSACTION_CLOSED", "SERVER_ERROR"], tx
    assert tx[-1]["commit"] is True

    (multiple,) = client_request(
        client,
        "multiple",
        replica.url,
        token,
        sql=f"INSERT INTO {TABLE} (v) VALUES ('small'); {inline_insert(too_big)};",
    )
    assert multiple == {"ok": True}  # silent: and not even the small statement is written
    assert stored() == []

    # Below the limit the same batch lands.
    (batch,) = client_request(
        client, "batch", replica.url, token, statements=[small, blob(1000)], txMode="write"
    )
    assert batch["ok"] and [s["rowsAffected"] for s in batch["sets"]] == [1, 1], batch
    assert stored() == [["text", len("small")], ["blob", 1000]]
