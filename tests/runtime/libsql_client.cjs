// The real @libsql/client, driven by the Python tests (NODE_PATH points at its node_modules).
// Reads one JSON request on stdin, writes JSON on stdout.
//   {"mode":"run","url":U,"authToken":T,"statements":[sql | {sql, args}]}
//     -> {"results":[{"ok":true,"columns":[...],"rows":[[...]],"rowsAffected":n} |
//                    {"ok":false,"code":C,"error":MSG}]}
//     An argument {"$blob":N} is sent as a blob of N bytes, {"$text":N} as a text of N "x"s:
//     megabytes of value without megabytes of JSON on stdin (every mode).
//   {"mode":"batch",...,"statements":[...],"txMode":"write"}  (client.batch)
//     -> {"results":[{"ok":true,"sets":[{columns,rows,rowsAffected,lastInsertRowid}...]} | error]}
//   {"mode":"transaction",...,"statements":[...],"txMode":"write"}  (client.transaction)
//     -> {"results":[one result per statement as in "run", then {"commit":true,"ok":...}]}
//   {"mode":"multiple",...,"sql":S}  (client.executeMultiple)
//     -> {"results":[{"ok":true} | error]}
//   {"mode":"load","url":U,"authToken":T,"table":N,"writers":W,"durationMs":D,
//    "payloadBytes":B,"idBase":I}
//     -> one line per attempt: {"ack":id,"t":ms} once acknowledged, {"fail":id,"t":ms,"error":M}
//        when the outcome is unknown; then {"done":true}. Stops early on SIGTERM.
//   {"mode":"session","clients":{NAME:{"url":U,"authToken":T,"session":S}, ...},
//    "sessions":{S:{"index":I}},
//    "steps":[{"on":NAME, ONE OF: "execute":stmt | "batch":[stmt...],"txMode":M | "multiple":S |
//              "begin":M | "tx":stmt | "commit":true | "rollback":true |
//              "replicationIndex":true} | {"sleepMs":N}]}
//     -> {"results":[one per step: {"ok":true,columns,rows,rowsAffected,lastInsertRowid}
//        (batch: {"ok":true,"sets":[...]}; others {"ok":true} or {"ok":true,"index":I}) |
//        {"ok":false,"name","code","extendedCode","rawCode","error"}]}
//     Several clients in one process, one interactive transaction at a time per client
//     ("begin", then "tx" steps, then "commit" or "rollback"). Blob values, and text over 64
//     characters, come back as {"length":n,"sha256":hex}. Clients naming a session S share the
//     fetch of read_your_writes.cjs (read-your-writes across them), starting from S's "index"
//     if given; "replicationIndex" reports the index the client's session holds.
"use strict";
const crypto = require("node:crypto");
const { createClient } = require("@libsql/client");

function readStdin() {
  return new Promise((resolve) => {
    let text = "";
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (chunk) => (text += chunk));
    process.stdin.on("end", () => resolve(text));
  });
}

function plain(value) {
  // JSON has no bigint or ArrayBuffer.
  if (typeof value === "bigint") return value.toString();
  if (value instanceof ArrayBuffer) return Buffer.from(value).toString("hex");
  return value;
}

function generatedArg(value) {
  if (value !== null && typeof value === "object" && !Array.isArray(value)) {
    if ("$blob" in value) return new Uint8Array(value.$blob).fill(0x62);
    if ("$text" in value) return "x".repeat(value.$text);
  }
  return value;
}

function statement(stmt) {
  if (typeof stmt === "string" || !Array.isArray(stmt.args)) return stmt;
  return { ...stmt, args: stmt.args.map(generatedArg) };
}

function resultSet(rs) {
  const rowid = rs.lastInsertRowid;
  return {
    columns: rs.columns,
    rows: rs.rows.map((row) => Array.from(row, plain)),
    rowsAffected: rs.rowsAffected,
    lastInsertRowid: rowid === undefined ? null : plain(rowid),
  };
}

function failure(err) {
  return { ok: false, code: err.code || null, error: String(err.message || err) };
}

function emitResults(results) {
  process.stdout.write(JSON.stringify({ results }) + "\n");
}

async function runBatch(client, req) {
  try {
    const sets = await client.batch(req.statements.map(statement), req.txMode || "write");
    emitResults([{ ok: true, sets: sets.map(resultSet) }]);
  } catch (err) {
    emitResults([failure(err)]);
  }
}

async function runTransaction(client, req) {
  const results = [];
  let tx;
  try {
    tx = await client.transaction(req.txMode || "write");
  } catch (err) {
    emitResults([failure(err)]);
    return;
  }
  try {
    for (const stmt of req.statements) {
      try {
        results.push({ ok: true, ...resultSet(await tx.execute(statement(stmt))) });
      } catch (err) {
        results.push(failure(err));
      }
    }
    try {
      await tx.commit();
      results.push({ commit: true, ok: true });
    } catch (err) {
      results.push({ commit: true, ...failure(err) });
    }
  } finally {
    tx.close();
  }
  emitResults(results);
}

async function runMultiple(client, req) {
  try {
    await client.executeMultiple(req.sql);
    emitResults([{ ok: true }]);
  } catch (err) {
    emitResults([failure(err)]);
  }
}

async function runStatements(client, statements) {
  const results = [];
  for (const stmt of statements) {
    try {
      const rs = await client.execute(statement(stmt));
      results.push({
        ok: true,
        columns: rs.columns,
        rows: rs.rows.map((row) => Array.from(row, plain)),
        rowsAffected: rs.rowsAffected,
      });
    } catch (err) {
      results.push({ ok: false, code: err.code || null, error: String(err.message || err) });
    }
  }
  process.stdout.write(JSON.stringify({ results }) + "\n");
}

function digested(value) {
  // A multi-MiB value as its length and hash: the test knows what it sent.
  const big = value instanceof ArrayBuffer || (typeof value === "string" && value.length > 64);
  if (!big) return plain(value);
  const bytes = typeof value === "string" ? Buffer.from(value, "utf8") : Buffer.from(value);
  return {
    length: typeof value === "string" ? value.length : bytes.length,
    sha256: crypto.createHash("sha256").update(bytes).digest("hex"),
  };
}

function sessionResultSet(rs) {
  const rowid = rs.lastInsertRowid;
  return {
    ok: true,
    columns: rs.columns,
    rows: rs.rows.map((row) => Array.from(row, digested)),
    rowsAffected: rs.rowsAffected,
    lastInsertRowid: rowid === undefined ? null : plain(rowid),
  };
}

function sessionFailure(err) {
  return {
    ok: false,
    name: err.name || null,
    code: err.code || null,
    extendedCode: err.extendedCode === undefined ? null : err.extendedCode,
    rawCode: err.rawCode === undefined ? null : err.rawCode,
    error: String(err.message || err),
  };
}

async function runSession(req) {
  const { readYourWrites } = require("./read_your_writes.cjs");
  const sessions = {};
  const clients = {};
  for (const [name, cfg] of Object.entries(req.clients)) {
    let session = null;
    if (cfg.session) {
      const start = ((req.sessions || {})[cfg.session] || {}).index;
      session = sessions[cfg.session] ||= readYourWrites({ index: start });
    }
    const config = { url: cfg.url, authToken: cfg.authToken };
    if (session) config.fetch = session.fetch;
    clients[name] = { client: createClient(config), session, tx: null };
  }
  const results = [];
  try {
    for (const step of req.steps) {
      if ("sleepMs" in step) {
        await new Promise((r) => setTimeout(r, step.sleepMs));
        results.push({ ok: true });
        continue;
      }
      const c = clients[step.on];
      try {
        if ("execute" in step) {
          results.push(sessionResultSet(await c.client.execute(statement(step.execute))));
        } else if ("batch" in step) {
          const sets = await c.client.batch(step.batch.map(statement), step.txMode || "write");
          results.push({ ok: true, sets: sets.map(sessionResultSet) });
        } else if ("multiple" in step) {
          await c.client.executeMultiple(step.multiple);
          results.push({ ok: true });
        } else if ("begin" in step) {
          c.tx = await c.client.transaction(step.begin);
          results.push({ ok: true });
        } else if ("tx" in step) {
          results.push(sessionResultSet(await c.tx.execute(statement(step.tx))));
        } else if ("commit" in step || "rollback" in step) {
          const tx = c.tx;
          c.tx = null;
          try {
            await ("commit" in step ? tx.commit() : tx.rollback());
          } finally {
            tx.close();
          }
          results.push({ ok: true });
        } else if ("replicationIndex" in step) {
          results.push({ ok: true, index: c.session ? c.session.replicationIndex() : null });
        } else {
          throw new Error(`unknown step ${JSON.stringify(step)}`);
        }
      } catch (err) {
        results.push(sessionFailure(err));
      }
    }
  } finally {
    for (const c of Object.values(clients)) {
      if (c.tx) c.tx.close();
      c.client.close();
    }
  }
  emitResults(results);
}

async function load(client, req) {
  let stopping = false;
  process.on("SIGTERM", () => (stopping = true));
  const deadline = Date.now() + req.durationMs;
  const payload = "x".repeat(req.payloadBytes || 0);
  const sql = `INSERT INTO ${req.table} (id, writer, payload) VALUES (?, ?, ?)`;
  // Pipes to a parent are synchronous on Linux, so a printed ack is never lost on exit.
  const emit = (obj) => process.stdout.write(JSON.stringify(obj) + "\n");
  async function writer(w) {
    for (let seq = 0; !stopping && Date.now() < deadline; seq++) {
      const id = req.idBase + w * 1_000_000 + seq;
      try {
        await client.execute({ sql, args: [id, w, payload] });
        emit({ ack: id, t: Date.now() });
      } catch (err) {
        emit({ fail: id, t: Date.now(), error: String(err.message || err).slice(0, 200) });
        await new Promise((r) => setTimeout(r, 50)); // the primary may be restarting
      }
    }
  }
  await Promise.all(Array.from({ length: req.writers }, (_, w) => writer(w)));
  emit({ done: true });
}

async function main() {
  const req = JSON.parse(await readStdin());
  if (req.mode === "session") {
    await runSession(req);
    return;
  }
  const client = createClient({ url: req.url, authToken: req.authToken });
  try {
    if (req.mode === "run") await runStatements(client, req.statements);
    else if (req.mode === "load") await load(client, req);
    else if (req.mode === "batch") await runBatch(client, req);
    else if (req.mode === "transaction") await runTransaction(client, req);
    else if (req.mode === "multiple") await runMultiple(client, req);
    else throw new Error(`unknown mode ${req.mode}`);
  } finally {
    client.close();
  }
}

main().catch((err) => {
  process.stderr.write(String(err.stack || err) + "\n");
  process.exit(2);
});
