#!/usr/bin/env node
// A small stand-in for `flashsale up`, implementing the engine's HTTP contract in
// memory, for working on the dashboard without the Rust engine. Same command
// line and environment as the real binary:
//   FLASHSALE_BIND=127.0.0.1:8080 FLASHSALE_ADMIN_TOKEN=secret node e2e/mock-engine.mjs up
// It is NOT the engine: the end-to-end tests run against the real binary.
// For the shop (/shop/): the sale's live stream, FlashSale-Server-Time,
// Idempotency-Key replays, the schedule (starts_at, ends_at), and a fair
// start's draw (prequeue_seconds, fair_start_seconds: the purchases of the
// window wait, then are served in a seeded random order; `draw` on the sale
// and its stats).
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import crypto from 'node:crypto';

// request bodies are checked against the engine's own OpenAPI document
const SCHEMAS = JSON.parse(fs.readFileSync(new URL('../src/api/openapi.json', import.meta.url), 'utf8')).components.schemas;

// `token <user> [--shop-url] [--target URL] [--jwt-secret S] [--ttl SECONDS]`: a buyer's JWT, or the shop link that signs in with it
if (process.argv[2] === 'token' && process.argv[3]) {
  const opt = (name, dflt) => {
    const i = process.argv.indexOf(name);
    return i === -1 ? dflt : process.argv[i + 1];
  };
  const secret = opt('--jwt-secret', process.env.FLASHSALE_JWT_SECRET || 'mock');
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub: process.argv[3], exp: now + Number(opt('--ttl', 3600)), iat: now })}`;
  const token = `${unsigned}.${crypto.createHmac('sha256', secret).update(unsigned).digest('base64url')}`;
  console.log(process.argv.includes('--shop-url') ? `${opt('--target', 'http://127.0.0.1:8080')}/shop/#token=${token}` : token);
  process.exit(0);
}
if (process.argv[2] !== 'up') {
  console.error('usage: mock-engine.mjs up | token <user> [--shop-url] [--target URL] [--jwt-secret S]');
  process.exit(2);
}

const [host, portStr] = (process.env.FLASHSALE_BIND || '127.0.0.1:8080').split(':');
const adminToken = process.env.FLASHSALE_ADMIN_TOKEN || crypto.randomBytes(12).toString('hex');
const staticDir = process.env.FLASHSALE_DASHBOARD_DIR || null;
const jwtSecret = process.env.FLASHSALE_JWT_SECRET || null;
const started = Date.now();

const sales = new Map();
const orders = []; // stored: {order_id, sale_id, user_id, quantity, status, created_at, payment_due_at?, paid_at?}
const queue = []; // in flight: {order_id, sale_id, user_id, quantity, created_at}
const rejections = {};
let attemptsWindow = [];
let acceptedWindow = [];
let requestsWindow = [];
const latencies = [];
const logs = [];
let logId = 0;
const clients = new Set();
const keyed = new Map(); // `${buyer}\n${Idempotency-Key}` -> {quantity, saleId, status, body}

function log(kind, severity, message, sale_id) {
  const e = { id: ++logId, at: new Date().toISOString(), kind, severity, message };
  if (sale_id) e.sale_id = sale_id;
  logs.push(e);
  if (logs.length > 200) logs.shift();
  for (const c of clients) c.write(`event: log\ndata: ${JSON.stringify(e)}\n\n`);
}

function err(res, status, code, message, headers = {}) {
  json(res, status, { error: { code, message } }, headers);
}
function json(res, status, body, headers = {}) {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}
/** the engine's clock, for buyers' countdowns */
const serverTime = () => ({ 'flashsale-server-time': String(Date.now()) });
function rate(win) {
  const now = Date.now();
  return win.filter((t) => now - t < 1000).length;
}
function prune() {
  const now = Date.now();
  attemptsWindow = attemptsWindow.filter((t) => now - t < 2000);
  acceptedWindow = acceptedWindow.filter((t) => now - t < 2000);
  requestsWindow = requestsWindow.filter((t) => now - t < 2000);
  if (latencies.length > 2000) latencies.splice(0, latencies.length - 2000);
}

function stats() {
  prune();
  const list = [...sales.values()].map((s) => {
    const mine = orders.filter((o) => o.sale_id === s.id);
    // expired and cancelled orders gave their units back: not persisted any more
    const persisted = mine.filter((o) => o.status === 'confirmed' || o.status === 'paid');
    const inflight = queue.filter((o) => o.sale_id === s.id).reduce((a, o) => a + o.quantity, 0);
    const units = persisted.reduce((a, o) => a + o.quantity, 0);
    const paid = persisted.filter((o) => o.status === 'paid').reduce((a, o) => a + o.quantity, 0);
    const count = (status) => mine.filter((o) => o.status === status).length;
    const difference = s.stock - (s.remaining + units + inflight);
    return {
      sale_id: s.id,
      name: s.name,
      status: s.status,
      stock: s.stock,
      remaining: s.remaining,
      sold: s.stock - s.remaining,
      units_persisted: units,
      orders_persisted: persisted.length,
      in_flight: inflight,
      units_awaiting_payment: s.payment_window_seconds > 0 ? units - paid : 0,
      units_paid: paid,
      orders_by_status: { confirmed: count('confirmed'), paid: count('paid'), expired: count('expired'), cancelled: count('cancelled') },
      ledger: { ok: difference === 0, difference },
      ...(drawDto(s) && { draw: drawDto(s) }),
    };
  });
  const sum = (k) => list.reduce((a, s) => a + s[k], 0);
  const sorted = [...latencies].sort((a, b) => a - b);
  return {
    generated_at: new Date().toISOString(),
    mode: 'embedded',
    uptime_seconds: (Date.now() - started) / 1000,
    totals: {
      stock: sum('stock'),
      remaining: sum('remaining'),
      sold: sum('sold'),
      orders_persisted: sum('orders_persisted'),
      units_persisted: sum('units_persisted'),
      in_flight: sum('in_flight'),
      queue_depth: queue.length,
      requests_per_second: rate(requestsWindow),
      purchase_attempts_per_second: rate(attemptsWindow),
      accepted_per_second: rate(acceptedWindow),
      p99_latency_ms: sorted.length ? sorted[Math.floor(sorted.length * 0.99)] : 0,
      rejections: { ...rejections },
    },
    sales: list,
  };
}

function publicSale(s) {
  const draw = drawDto(s);
  return { payment_window_seconds: 0, prequeue_seconds: 0, fair_start_seconds: 0, stock_buckets: 1, ...s, sold: s.stock - s.remaining, ...(draw && { draw }) };
}

// ---- a fair start: the draw of a sale's opening window (docs/fair-start.md)
const draws = new Map(); // sale id -> { phase, seed, served, entries: Map(buyer -> { quantity, key, answer, waiters }) }
const DRAW_WAIT_MS = 90_000;

/** The window, Unix ms, or null without a fair start. */
function drawWindowOf(s) {
  const start = s.starts_at ? Date.parse(s.starts_at) : NaN;
  const before = s.prequeue_seconds ?? 0;
  const after = s.fair_start_seconds ?? 0;
  if (Number.isNaN(start) || before + after <= 0) return null;
  return { opens: start - before * 1000, closes: start + after * 1000 };
}
function drawOf(s) {
  if (!draws.has(s.id)) draws.set(s.id, { phase: 'open', seed: null, served: 0, entries: new Map() });
  return draws.get(s.id);
}
/** The sale's `draw`: once a buyer entered it or its window closed. */
function drawDto(s) {
  const d = draws.get(s.id);
  if (!d) return undefined;
  return { phase: d.phase, entrants: d.entries.size, served: d.served, seed: d.seed };
}

/** The engine's drawn order: a Fisher–Yates shuffle of the sorted buyers, driven by SHA-256(seed ‖ block). */
function drawOrder(seedHex, entrants) {
  const seed = Buffer.from(seedHex, 'hex');
  let block = 0n;
  const words = [];
  const nextU64 = () => {
    if (!words.length) {
      const k = Buffer.alloc(8);
      k.writeBigUInt64LE(block++);
      const d = crypto.createHash('sha256').update(Buffer.concat([seed, k])).digest();
      for (let i = 0; i < 32; i += 8) words.push(d.readBigUInt64LE(i));
    }
    return words.shift();
  };
  const MAX = 2n ** 64n - 1n;
  const below = (n) => {
    const limit = MAX - (MAX % n);
    for (;;) {
      const x = nextU64();
      if (x < limit) return Number(x % n);
    }
  };
  const order = [...new Set(entrants)].sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
  for (let i = order.length - 1; i > 0; i--) {
    const j = below(BigInt(i + 1));
    [order[i], order[j]] = [order[j], order[i]];
  }
  return order;
}

/** Answers a waiting request with its entry's answer. */
function answerEntry(e, res) {
  if (res.writableEnded) return;
  json(res, e.answer.status, e.answer.body);
}

/** Closes the draws whose window ended and serves their entries in the drawn order. */
function serveDraws() {
  const now = Date.now();
  for (const s of sales.values()) {
    const w = drawWindowOf(s);
    if (!w || now < w.closes) continue;
    const d = drawOf(s);
    if (d.phase === 'served') continue;
    d.phase = 'serving';
    d.seed = crypto.randomBytes(32).toString('hex');
    applySchedule();
    for (const user of drawOrder(d.seed, [...d.entries.keys()])) {
      const e = d.entries.get(user);
      const r = purchase(s, user, e.quantity);
      e.answer = r.code
        ? { status: 409, body: { error: { code: r.code, message: r.code.replace(/_/g, ' ') } } }
        : { status: 202, body: { order_id: r.orderId, status: 'pending', remaining: s.remaining } };
      keyed.set(`${user}\n${e.key}`, { saleId: s.id, quantity: e.quantity, status: e.answer.status, body: e.answer.body });
      d.served += 1;
      for (const res of e.waiters.splice(0)) answerEntry(e, res);
    }
    d.phase = 'served';
    log('draw', 'info', `“${s.name}”: the draw is served, ${d.entries.size} entrants, seed ${d.seed}`, s.id);
    save();
  }
}
setInterval(serveDraws, 100);

/** A purchase in a fair start's open window: the buyer's entry, answered when the draw is served (or 503 after 90 s). */
function enterDraw(s, user, quantity, key, res) {
  const d = drawOf(s);
  let e = d.entries.get(user);
  if (!e) {
    e = { quantity, key: key || `entry-${user}`, answer: null, waiters: [] };
    d.entries.set(user, e);
  } else if (key && key === e.key && quantity !== e.quantity) {
    return err(res, 422, 'idempotency_key_reused', 'this Idempotency-Key was already used with another request body');
  }
  if (e.answer) return answerEntry(e, res);
  e.waiters.push(res);
  const t = setTimeout(() => {
    e.waiters = e.waiters.filter((r) => r !== res);
    if (!res.writableEnded) err(res, 503, 'overloaded', 'still waiting for the draw: retry with the same Idempotency-Key', { 'retry-after': '1' });
  }, DRAW_WAIT_MS);
  res.on('close', () => {
    clearTimeout(t);
    e.waiters = e.waiters.filter((r) => r !== res);
  });
}

/** Buys `quantity` units for `user`; the order id when accepted, else the error code. */
function purchase(sale, user, quantity) {
  attemptsWindow.push(Date.now());
  const t0 = performance.now();
  let code = null;
  let orderId = null;
  if (sale.status !== 'active') code = sale.status === 'sold_out' ? 'sold_out' : 'sale_not_active';
  else if ((sale.buyers.get(user) || 0) + quantity > sale.per_user_limit) code = 'limit_exceeded';
  else if (sale.remaining < quantity) code = 'sold_out';
  if (code) {
    rejections[code] = (rejections[code] || 0) + 1;
    if (code === 'limit_exceeded' && rejections[code] % 25 === 1) log('limit_abuse', 'warning', `buyer ${user} over the per-user limit`, sale.id);
  } else {
    sale.remaining -= quantity;
    sale.buyers.set(user, (sale.buyers.get(user) || 0) + quantity);
    orderId = crypto.randomUUID();
    queue.push({ order_id: orderId, sale_id: sale.id, user_id: user, quantity, created_at: new Date().toISOString() });
    acceptedWindow.push(Date.now());
    if (sale.remaining === 0) {
      sale.status = 'sold_out';
      log('sold_out', 'critical', `“${sale.name}” sold out: ${sale.stock} units`, sale.id);
    }
  }
  latencies.push(performance.now() - t0 + Math.random() * 4);
  return code ? { code } : { orderId };
}

/** An expired or cancelled order's units go back on sale and off its buyer's limit. */
function giveBack(order, status) {
  order.status = status;
  const s = sales.get(order.sale_id);
  if (!s) return;
  s.remaining += order.quantity;
  s.buyers.set(order.user_id, Math.max(0, (s.buyers.get(order.user_id) || 0) - order.quantity));
  if (s.status === 'sold_out' && s.remaining > 0) s.status = 'active';
}

/** The buyer of a valid HS256 token (`sub`), checked with FLASHSALE_JWT_SECRET when set; else null. */
function buyer(req) {
  const auth = req.headers.authorization || '';
  const [h, p, sig] = (auth.startsWith('Bearer ') ? auth.slice(7) : '').split('.');
  if (!h || !p || !sig) return null;
  if (jwtSecret && crypto.createHmac('sha256', jwtSecret).update(`${h}.${p}`).digest('base64url') !== sig) return null;
  try {
    const claims = JSON.parse(Buffer.from(p, 'base64url').toString());
    return typeof claims.sub === 'string' && claims.sub && claims.exp * 1000 > Date.now() ? claims.sub : null;
  } catch {
    return null;
  }
}

/** A buyer token for the banner's shop link (any signature passes without FLASHSALE_JWT_SECRET). */
function demoToken(sub) {
  const b64 = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');
  const now = Math.floor(Date.now() / 1000);
  const unsigned = `${b64({ alg: 'HS256', typ: 'JWT' })}.${b64({ sub, exp: now + 3600, iat: now })}`;
  return `${unsigned}.${crypto.createHmac('sha256', jwtSecret || 'mock').update(unsigned).digest('base64url')}`;
}

function orderDto(o) {
  const { order_id, sale_id, user_id, quantity, created_at } = o;
  const dto = { order_id, sale_id, user_id, quantity, status: o.status ?? 'pending', created_at };
  if (o.payment_due_at) dto.payment_due_at = o.payment_due_at;
  if (o.paid_at) dto.paid_at = o.paid_at;
  return dto;
}

// durable enough for a restart test: sales and orders in FLASHSALE_DATA_DIR/mock-engine.json
const dataDir = process.env.FLASHSALE_DATA_DIR || './data';
const stateFile = path.join(dataDir, 'mock-engine.json');
function save() {
  fs.mkdirSync(dataDir, { recursive: true });
  const data = { sales: [...sales.values()].map((s) => ({ ...s, buyers: [...s.buyers] })), orders: orders.concat(queue), keyed: [...keyed] };
  fs.writeFileSync(stateFile + '.tmp', JSON.stringify(data));
  fs.renameSync(stateFile + '.tmp', stateFile);
}
if (fs.existsSync(stateFile)) {
  const data = JSON.parse(fs.readFileSync(stateFile, 'utf8'));
  for (const raw of data.sales) {
    const { buyers, ...s } = raw;
    Object.defineProperty(s, 'buyers', { value: new Map(buyers), enumerable: false });
    sales.set(s.id, s);
  }
  // orders still in flight when it stopped (no status yet) go through the order writer again
  for (const o of data.orders) (o.status ? orders : queue).push(o);
  for (const [k, v] of data.keyed ?? []) keyed.set(k, v);
}

// order writer: persists the queue in batches; orders of a sale with a
// payment window await payment until their due time
setInterval(() => {
  const batch = queue.splice(0, 40);
  for (const o of batch) {
    const window = sales.get(o.sale_id)?.payment_window_seconds ?? 0;
    o.status = 'confirmed';
    if (window > 0) o.payment_due_at = new Date(Date.now() + window * 1000).toISOString();
    orders.push(o);
  }
  save();
}, 120);

// checkout: unpaid orders expire at their due time, their units back on sale
setInterval(() => {
  const now = new Date().toISOString();
  const expired = new Map();
  for (const o of orders) {
    if (o.status !== 'confirmed' || !o.payment_due_at || o.payment_due_at > now) continue;
    giveBack(o, 'expired');
    expired.set(o.sale_id, (expired.get(o.sale_id) || 0) + 1);
  }
  for (const [saleId, n] of expired) log('checkout', 'info', `${n} unpaid orders expired; their units go back on sale.`, saleId);
}, 250);

// the schedule: a scheduled sale starts at starts_at, an open one ends at ends_at
function applySchedule() {
  const now = new Date().toISOString();
  for (const s of sales.values()) {
    if (s.status !== 'ended' && s.ends_at && s.ends_at <= now) s.status = 'ended';
    else if (s.status === 'scheduled' && s.starts_at && s.starts_at <= now) s.status = s.remaining > 0 ? 'active' : 'sold_out';
  }
}
setInterval(applySchedule, 100);

// buyers' live streams: a sale event at once, then whenever its figures change (at most once a second)
const watchers = new Map(); // sale id -> Set of {res, last}
setInterval(() => {
  for (const [id, set] of watchers) {
    const s = sales.get(id);
    if (!s) continue;
    const data = JSON.stringify(publicSale(s));
    for (const w of set) {
      if (w.last === data) continue;
      w.last = data;
      w.res.write(`event: sale\ndata: ${data}\n\n`);
    }
  }
}, 1000);

setInterval(() => {
  const data = JSON.stringify(stats());
  for (const c of clients) c.write(`event: stats\ndata: ${data}\n\n`);
}, 1000);

function readBody(req) {
  return new Promise((resolve) => {
    let b = '';
    req.on('data', (c) => (b += c));
    req.on('end', () => {
      if (!b) return resolve({});
      try {
        resolve(JSON.parse(b));
      } catch {
        resolve(null);
      }
    });
  });
}

/** What is wrong with a request body by its schema (fields, integer ranges, string lengths and pattern), or null. */
function invalid(schema, body) {
  const { properties, required = [] } = SCHEMAS[schema];
  const unknown = Object.keys(body).find((k) => !(k in properties));
  if (unknown) return `unknown field ${unknown}`;
  for (const [k, p] of Object.entries(properties)) {
    const v = body[k];
    if (v === undefined || v === null) {
      if (required.includes(k)) return `${k} is required`;
    } else if ([p.type].flat().includes('integer')) {
      if (!Number.isInteger(v) || v < p.minimum || v > p.maximum) return `${k} must be an integer in ${p.minimum}..=${p.maximum}`;
    } else if ([p.type].flat().includes('string')) {
      const n = typeof v === 'string' ? [...v].length : -1;
      if (n < (p.minLength ?? 0) || n > (p.maxLength ?? Infinity) || (p.pattern && !new RegExp(p.pattern, 'u').test(v))) {
        return `${k} must be ${p.minLength}..=${p.maxLength} characters, not only spaces, no control characters`;
      }
    }
  }
  return null;
}

const MIME = { '.html': 'text/html', '.js': 'text/javascript', '.css': 'text/css', '.woff2': 'font/woff2', '.woff': 'font/woff', '.svg': 'image/svg+xml', '.png': 'image/png' };

const server = http.createServer(async (req, res) => {
  const url = new URL(req.url, 'http://x');
  const p = url.pathname;
  requestsWindow.push(Date.now());

  if (p === '/api/health') {
    return json(res, 200, {
      status: 'ok',
      mode: 'embedded',
      components: {
        sqlite: { status: 'ok', detail: 'orders.db, WAL, group commit' },
        gateway: { status: 'ok', detail: `listening on ${host}:${server.address().port}` },
        memory_stock: { status: 'ok', detail: `${sales.size} sales in memory` },
        order: { status: 'ok', detail: `queue ${queue.length}` },
        inventory: { status: 'ok', detail: 'atomic in-memory stock' },
        product: { status: 'ok', detail: 'sales in sqlite' },
        payments: { status: 'ok', detail: 'simulated (webhook off)' },
      },
    });
  }
  if (p === '/api/sales' && req.method === 'GET') return json(res, 200, [...sales.values()].map(publicSale), serverTime());
  let m = p.match(/^\/api\/sales\/([^/]+)$/);
  if (m && req.method === 'GET') {
    const s = sales.get(m[1]);
    return s ? json(res, 200, publicSale(s), serverTime()) : err(res, 404, 'sale_not_found', 'no such sale');
  }
  m = p.match(/^\/api\/sales\/([^/]+)\/live$/);
  if (m && req.method === 'GET') {
    const s = sales.get(m[1]);
    if (!s) return err(res, 404, 'sale_not_found', 'no such sale');
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', ...serverTime() });
    const w = { res, last: JSON.stringify(publicSale(s)) };
    res.write(`event: sale\ndata: ${w.last}\n\n`);
    if (!watchers.has(s.id)) watchers.set(s.id, new Set());
    watchers.get(s.id).add(w);
    req.on('close', () => watchers.get(s.id)?.delete(w));
    return;
  }

  // buyers: purchase, read, pay (simulated payments) and cancel their orders
  m = p.match(/^\/api\/sales\/([^/]+)\/purchase$/) || p.match(/^\/api\/orders\/([^/]+)(?:\/(pay|cancel))?$/);
  if (m) {
    const user = buyer(req);
    if (!user) return err(res, 401, 'unauthorized', 'missing or invalid buyer token');
    if (p.endsWith('/purchase')) {
      if (req.method !== 'POST') return err(res, 405, 'method_not_allowed', 'use POST');
      const body = await readBody(req);
      const bad = body === null ? 'body is not valid JSON' : (invalid('PurchaseRequest', body) ?? (body.quantity < 1 ? 'quantity must be at least 1' : null));
      if (bad) return err(res, 400, 'invalid_request', bad);
      // the same buyer and key: the first answer again (another body: refused)
      const key = req.headers['idempotency-key'];
      const first = key ? keyed.get(`${user}\n${key}`) : null;
      if (first) {
        if (first.saleId !== m[1] || first.quantity !== body.quantity) return err(res, 422, 'idempotency_key_reused', 'this Idempotency-Key was already used with another request body');
        return json(res, first.status, first.body, { 'idempotent-replayed': 'true' });
      }
      const s = sales.get(m[1]);
      if (!s) return err(res, 404, 'sale_not_found', 'no such sale');
      applySchedule();
      const w = drawWindowOf(s);
      const now = Date.now();
      if (w && now >= w.opens && now < w.closes && !['paused', 'ended'].includes(s.status) && (draws.get(s.id)?.phase ?? 'open') === 'open') {
        if (body.quantity > s.per_user_limit) return err(res, 409, 'limit_exceeded', 'limit exceeded');
        return enterDraw(s, user, body.quantity, key, res);
      }
      const r = purchase(s, user, body.quantity);
      const [status, answer] = r.code
        ? [409, { error: { code: r.code, message: r.code.replace(/_/g, ' ') } }]
        : [202, { order_id: r.orderId, status: 'pending', remaining: s.remaining }];
      if (key) {
        keyed.set(`${user}\n${key}`, { saleId: s.id, quantity: body.quantity, status, body: answer });
        save();
      }
      return json(res, status, answer);
    }
    const o = orders.concat(queue).find((x) => x.order_id === m[1] && x.user_id === user);
    if (!o) return err(res, 404, 'order_not_found', 'no such order');
    if (!m[2]) return req.method === 'GET' ? json(res, 200, orderDto(o)) : err(res, 405, 'method_not_allowed', 'use GET');
    if (req.method !== 'POST') return err(res, 405, 'method_not_allowed', 'use POST');
    const final = { paid: 'order_paid', expired: 'order_expired', cancelled: 'order_cancelled' }[o.status];
    if (m[2] === 'pay') {
      if (o.status === 'paid') return json(res, 200, orderDto(o));
      if (final) return err(res, 409, final, `the order is ${o.status}`);
      if (o.status !== 'confirmed' || !o.payment_due_at) return err(res, 409, 'order_not_awaiting_payment', 'the order is not awaiting payment');
      o.status = 'paid';
      o.paid_at = new Date().toISOString();
    } else {
      if (o.status === 'cancelled') return json(res, 200, orderDto(o));
      if (final) return err(res, 409, final, `the order is ${o.status}`);
      if (o.status !== 'confirmed' || !o.payment_due_at) return err(res, 409, 'order_not_awaiting_payment', 'the order is not awaiting payment');
      giveBack(o, 'cancelled');
    }
    save();
    return json(res, 200, orderDto(o));
  }

  if (p.startsWith('/api/admin')) {
    const auth = req.headers.authorization || '';
    const tok = auth.startsWith('Bearer ') ? auth.slice(7) : url.searchParams.get('token');
    if (tok !== adminToken) {
      log('auth_failure', 'warning', `admin auth failure on ${p}`);
      rejections.unauthorized = (rejections.unauthorized || 0) + 1;
      return err(res, 401, 'unauthorized', 'missing or wrong admin token');
    }
    if (p === '/api/admin/stats') return json(res, 200, stats());
    if (p === '/api/admin/events') {
      res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' });
      for (const e of logs) res.write(`event: log\ndata: ${JSON.stringify(e)}\n\n`);
      res.write(`event: stats\ndata: ${JSON.stringify(stats())}\n\n`);
      clients.add(res);
      req.on('close', () => clients.delete(res));
      return;
    }
    if (req.method !== 'POST') return err(res, 405, 'method_not_allowed', 'use POST');
    const body = await readBody(req);
    if (body === null) return err(res, 400, 'invalid_request', 'body is not valid JSON');
    if (p === '/api/admin/sales') {
      const bad = invalid('CreateSaleRequest', body);
      if (bad) return err(res, 400, 'invalid_request', bad);
      // as the engine: no more buckets than units (its message names only the range)
      if ((body.stock_buckets ?? 1) > body.stock) return err(res, 400, 'invalid_request', 'stock_buckets must be between 1 and 16');
      const s = {
        id: crypto.randomUUID(),
        name: body.name,
        product: body.product,
        price_cents: body.price_cents,
        stock: body.stock,
        remaining: body.stock,
        per_user_limit: body.per_user_limit,
        starts_at: body.starts_at ?? null,
        ends_at: body.ends_at ?? null,
        payment_window_seconds: body.payment_window_seconds ?? 0,
        prequeue_seconds: body.prequeue_seconds ?? 0,
        fair_start_seconds: body.fair_start_seconds ?? 0,
        stock_buckets: body.stock_buckets ?? 1,
        status: 'scheduled',
        created_at: new Date().toISOString(),
      };
      Object.defineProperty(s, 'buyers', { value: new Map(), enumerable: false });
      sales.set(s.id, s);
      log('admin_action', 'info', `sale “${s.name}” created with ${s.stock} units`, s.id);
      return json(res, 201, publicSale(s));
    }
    if (p === '/api/admin/cache/flush') {
      log('admin_action', 'warning', 'cache flushed and rebuilt');
      return json(res, 200, { flushed: true, sales: sales.size });
    }
    m = p.match(/^\/api\/admin\/sales\/([^/]+)\/(start|pause|resume|end|stock|stampede)$/);
    if (!m) return err(res, 404, 'not_found', 'no such route');
    const s = sales.get(m[1]);
    if (!s) return err(res, 404, 'sale_not_found', 'no such sale');
    const action = m[2];
    const from = s.status;
    const allowed = { start: ['scheduled'], pause: ['active'], resume: ['paused'], end: ['scheduled', 'active', 'paused', 'sold_out'] };
    if (allowed[action]) {
      if (!allowed[action].includes(from)) return err(res, 409, 'invalid_transition', `cannot ${action} a sale that is ${from}`);
      s.status = { start: 'active', pause: 'paused', resume: 'active', end: 'ended' }[action];
      if (s.status === 'active' && s.remaining === 0) s.status = 'sold_out';
      log('sale_state', 'info', `“${s.name}”: ${from} → ${s.status}`, s.id);
      return json(res, 200, publicSale(s));
    }
    if (action === 'stock') {
      const bad = invalid('StockChangeRequest', body) ?? (body.add === 0 ? 'add must not be 0' : null);
      if (bad) return err(res, 400, 'invalid_request', bad);
      if (s.status === 'ended') return err(res, 409, 'invalid_transition', 'the sale has ended');
      if (body.add < -s.remaining) return err(res, 400, 'invalid_request', `add must be >= -${s.remaining} (remaining)`);
      const max = SCHEMAS.CreateSaleRequest.properties.stock.maximum;
      if (s.stock + body.add > max) return err(res, 400, 'invalid_request', `the stock must stay within ${max}`);
      s.stock += body.add;
      s.remaining += body.add;
      if (s.status === 'sold_out' && s.remaining > 0) s.status = 'active';
      log('stock_changed', 'info', `“${s.name}”: stock ${body.add > 0 ? '+' : ''}${body.add} → ${s.stock}`, s.id);
      return json(res, 200, publicSale(s));
    }
    if (action === 'stampede') {
      const bad = invalid('StampedeRequest', body);
      if (bad) return err(res, 400, 'invalid_request', bad);
      const buyers = body.buyers;
      const apb = body.attempts_per_buyer ?? 1;
      const qty = body.quantity ?? 1;
      log('stampede', 'info', `stampede: ${buyers} buyers × ${apb} on “${s.name}”`, s.id);
      let i = 0;
      const total = buyers * apb;
      const tick = setInterval(() => {
        for (let k = 0; k < 25 && i < total; k++, i++) purchase(s, `buyer-${i % buyers}`, qty);
        if (i >= total) {
          clearInterval(tick);
          log('stampede', 'info', `stampede over: ${total} attempts on “${s.name}”`, s.id);
        }
      }, 50);
      return json(res, 202, { sale_id: s.id, buyers, attempts_per_buyer: apb });
    }
  }

  if (p === '/metrics') {
    res.writeHead(200, { 'content-type': 'text/plain' });
    return res.end('# mock\n');
  }
  if (staticDir && req.method === 'GET' && !p.startsWith('/api/')) {
    let file = path.join(staticDir, path.normalize(p).replace(/^(\.\.[/\\])+/, ''));
    const page = p === '/shop' || p.startsWith('/shop/') ? 'shop/index.html' : 'index.html';
    if (!file.startsWith(staticDir) || !fs.existsSync(file) || fs.statSync(file).isDirectory()) file = path.join(staticDir, page);
    res.writeHead(200, { 'content-type': MIME[path.extname(file)] || 'application/octet-stream' });
    return fs.createReadStream(file).pipe(res);
  }
  err(res, 404, 'not_found', 'no such route');
});

server.listen(Number(portStr || 8080), host, () => {
  const port = server.address().port;
  console.log(`FlashSale listening on http://${host}:${port}`);
  console.log(`Dashboard: http://${host}:${port}/#admin_token=${adminToken}`);
  console.log(`  shop (demo buyer, 1 h): http://${host}:${port}/shop/#token=${demoToken('demo-buyer')}`);
  log('system', 'info', 'mock engine started (embedded mode)');
});

for (const sig of ['SIGINT', 'SIGTERM'])
  process.on(sig, () => {
    save();
    process.exit(0);
  });
