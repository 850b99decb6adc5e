// Read-your-writes through sqld replicas with the unmodified @libsql/client, over HTTP (the
// client's transport for libsql:// and https:// URLs). Copy this file into an application:
//
//   const { readYourWrites } = require("./read_your_writes.cjs");
//   const session = readYourWrites();            // one per user session, not per process
//   const client = createClient({ url, authToken, fetch: session.fetch });
//   ... session.replicationIndex() ...           // keep it with the user (a cookie), and start
//   readYourWrites({ index })                    // their next session from it, on any server
//
// Why (sqld 0.24.32 = tursodatabase/libsql 40c272de; @libsql/client 0.18.0):
// - Every Hrana result carries `replication_index`, the primary's frame number after that
//   request (libsql-hrana/src/proto.rs StmtResult, BatchResult; filled in
//   libsql-server/src/hrana/result_builder.rs). A statement or batch may carry one too, and a
//   replica then holds the read until it has applied that frame
//   (libsql-server/src/connection/write_proxy.rs wait_replication_sync); the primary ignores it
//   (connection/legacy.rs `_replication_index`).
// - Nothing else makes a replica wait: it is meant to wait for its connection's own last write,
//   but RemoteConnection::execute (write_proxy.rs) records that frame in a `move` closure's copy
//   of `new_frame_no`, so `last_write_frame_no` stays None, and even a read on the same Hrana
//   stream as the write can miss it.
// - @libsql/client neither reads nor sends the field (libsql-client-ts issue #145), so this
//   `fetch` does both: it keeps the highest index any answer of the session carried and adds it
//   to every statement and batch the session sends. The client talks Hrana over HTTP as JSON on
//   /v2/pipeline (hrana-client `openHttp` defaults to protocol version 2): plain JSON to edit.
// - The wait has no timeout in sqld: an index the primary never reaches (one kept from before
//   the primary's database was restored) holds the read until the HTTP request is abandoned, so
//   keep indexes per database, and give requests a timeout.
"use strict";

const SKIPPED_WRITE = {
  condition: { type: "or", conds: [] },
  stmt: { sql: "DELETE FROM read_your_writes_probe", want_rows: false },
};

function readYourWrites({ index: start = null, fetch: baseFetch = globalThis.fetch } = {}) {
  let index = start === null || start === undefined ? null : BigInt(start); // u64, sent as text

  function see(value) {
    if (typeof value === "string" && /^\d+$/.test(value)) {
      const seen = BigInt(value);
      if (index === null || seen > index) index = seen;
    }
  }

  function stamp(request) {
    if (index === null) return;
    const at = index.toString();
    if (request.type === "execute") request.stmt.replication_index = at;
    else if (request.type === "batch") request.batch.replication_index = at;
    else if (request.type === "sequence" || request.type === "describe") {
      request.replication_index = at;
    }
  }

  async function fetch(request) {
    if (!new URL(request.url).pathname.endsWith("/v2/pipeline")) return baseFetch(request);
    const body = JSON.parse(await request.text());
    body.requests.forEach(stamp);
    // executeMultiple() sends a `sequence`, whose answer carries no index. Follow it with a
    // batch whose only step is a write that never runs (its condition, an empty "or", is
    // false): a replica forwards it, since it is not read-only, and the primary answers with its
    // index, which covers the sequence. Its answer is hidden from the client. (A read on the same
    // stream would not do: a replica does not make it wait for the stream's own writes.)
    const probes = [];
    const requests = [];
    for (const req of body.requests) {
      requests.push(req);
      if (req.type === "sequence") {
        probes.push(requests.length);
        requests.push({ type: "batch", batch: { steps: [SKIPPED_WRITE] } });
      }
    }
    body.requests = requests;
    const response = await baseFetch(
      new Request(request.url, { method: "POST", headers: request.headers, body: JSON.stringify(body) })
    );
    if (!response.ok) return response;
    const reply = JSON.parse(await response.text());
    for (const result of reply.results || []) {
      if (result.type === "ok" && result.response && result.response.result) {
        see(result.response.result.replication_index);
      }
    }
    if (reply.results) reply.results = reply.results.filter((_, i) => !probes.includes(i));
    const headers = new Headers(response.headers);
    headers.delete("content-length");
    headers.delete("content-encoding");
    return new Response(JSON.stringify(reply), { status: response.status, headers });
  }

  return { fetch, replicationIndex: () => (index === null ? null : index.toString()) };
}

module.exports = { readYourWrites };
