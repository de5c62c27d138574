#!/usr/bin/env node
// fuzz.js: requests generated from openapi.json, sent through Prism (a
// third-party OpenAPI validator in proxy mode) in front of bar9's proxy.
//
//   node fuzz.js --doc openapi.json --strict URL --lenient URL --direct URL
//                --keys FILE [--seconds N] [--seed N]
//
// Values come from the document's own schemas by json-schema-faker (path
// parameters, query strings, headers, bodies), or are ids of objects made
// at the start, so that requests reach the handlers and not only the 404s.
// Every operation is called with both auth headers (Authorization: Bearer
// and X-API-Key), without a key, with an unknown key, with a key lacking
// the scope and with another account's key.  A share of the requests is
// broken on purpose (a required field dropped, a wrong type, a value out of
// range, bad JSON, a wrong Content-Type).
//
// Two Prism instances: requests valid by the document go to the one run
// with --errors (a response that violates the document becomes its 500
// VIOLATIONS answer); requests invalid by the document go to one without
// --errors, which forwards them all and names any violation of the answer
// in its sl-violations header (an --errors Prism would answer them itself
// and never forward them).  Bytes Prism cannot carry (bad JSON) go straight
// to bar9's proxy and are checked for the status and the error body.
//
// A failure: a 5xx, a response that violates the document, a request that
// got no answer.  Prints one line per failure (at most 20 of each kind) and
// the totals; exits 1 on any failure.
'use strict';

const fs = require('fs');
const http = require('http');
const jsf = require('json-schema-faker');

function parseArgs(argv)
{
	const a = {};
	for (let i = 2; i < argv.length; i += 2)
		a[argv[i].replace(/^--/, '')] = argv[i + 1];
	return a;
}

const args = parseArgs(process.argv);
const doc = JSON.parse(fs.readFileSync(args.doc, 'utf8'));
const keys = JSON.parse(fs.readFileSync(args.keys, 'utf8'));
const seconds = Number(args.seconds || 30);
let seed = Number(args.seed || Date.now() % 1000000);

// A small seeded generator (mulberry32), so that a run can be repeated.
function rng()
{
	seed |= 0;
	seed = (seed + 0x6D2B79F5) | 0;
	let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
	t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
	return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = (xs) => xs[Math.floor(rng() * xs.length)];
const chance = (p) => rng() < p;

jsf.option({
	random: rng,
	alwaysFakeOptionals: false,
	optionalsProbability: 0.5,
	useExamplesValue: false,
	failOnInvalidTypes: false,
	maxItems: 5,
	maxLength: 40,
});

// The schema with the document's components beside it, for its $refs.
function generate(schema)
{
	return jsf.generate({ ...schema, components: doc.components });
}

// resolve(OBJ): follows one local $ref.
function resolve(o)
{
	if (!o || !o.$ref)
		return o;
	return o.$ref.replace(/^#\//, '').split('/').reduce((x, k) => x[k], doc);
}

// Every operation of the document.
const operations = [];
for (const [path, item] of Object.entries(doc.paths))
	for (const method of ['get', 'post', 'patch', 'delete', 'put'])
		if (item[method])
		{
			const op = item[method];
			const params = [...(item.parameters || []), ...(op.parameters || [])].map(resolve);
			operations.push({ path, method, op, params, secured: (op.security || doc.security || []).length > 0 });
		}

// Objects made at the start (ids that exist), filled by setup().
const known = { channel_id: [], message_id: [], phone_number: [] };

// send(BASE, METHOD, PATH, HEADERS, BODY): {status, headers, body} or {error}.
function send(base, method, path, headers, body)
{
	return new Promise((resolveP) => {
		const u = new URL(base);
		const req = http.request({
			host: u.hostname, port: u.port, method: method.toUpperCase(), path,
			headers: { ...headers, ...(body !== undefined ? { 'content-length': Buffer.byteLength(body) } : {}) },
			timeout: 30000,
		}, (res) => {
			const chunks = [];
			res.on('data', (c) => chunks.push(c));
			res.on('end', () => resolveP({ status: res.statusCode, headers: res.headers, body: Buffer.concat(chunks).toString('utf8') }));
			res.on('error', (e) => resolveP({ error: String(e) }));
		});
		req.on('timeout', () => req.destroy(new Error('no answer within 30 s')));
		req.on('error', (e) => resolveP({ error: String(e) }));
		if (body !== undefined)
			req.write(body);
		req.end();
	});
}

// Audiences, numbers and broadcasts to aim at, made through the strict Prism.
async function setup()
{
	const auth = { authorization: `Bearer ${keys.all}`, 'content-type': 'application/json' };
	for (let i = 0; i < 3; i++)
	{
		const r = await send(args.strict, 'post', '/v1/marketing/channels', auth, JSON.stringify({ name: `fuzz ${i}` }));
		if (r.status !== 201)
			throw new Error(`setup: POST /v1/marketing/channels answered ${r.status} ${r.body || r.error}`);
		const id = JSON.parse(r.body).id;
		known.channel_id.push(id);
		const numbers = [];
		for (let n = 0; n < 4; n++)
			numbers.push(`+2135551${String(i)}${String(1000 + n)}`);
		await send(args.strict, 'post', `/v1/marketing/channels/${id}/numbers`, auth, JSON.stringify({ phone_numbers: numbers }));
		known.phone_number.push(...numbers);
		const m = await send(args.strict, 'post', `/v1/marketing/channels/${id}/messages`, auth, JSON.stringify({ body: `hello ${i}` }));
		if (m.status === 201)
			known.message_id.push(JSON.parse(m.body).id);
	}
}

// A value for one parameter: a known id or one generated from its schema.
function paramValue(p, op)
{
	// deleting the audiences made at the start would leave little to aim at
	const p_known = (op.method === 'delete' && p.name === 'channel_id') ? 0.1 : 0.6;
	if (known[p.name] && known[p.name].length && chance(p_known))
		return pick(known[p.name]);
	return generate(p.schema || { type: 'string' });
}

// Breaks a value on purpose: another type, out of range, or junk.
function breakValue(v, schema)
{
	const s = resolve(schema) || {};
	const choices = [
		() => 12345,
		() => null,
		() => true,
		() => [v],
		() => ({ v }),
		() => '',
		() => 'x'.repeat(300 + Math.floor(rng() * 2000)),
		() => '\u0000\u00ff\ud83d\ude00 \' " ; -- %',
	];
	if (typeof s.minimum === 'number')
		choices.push(() => s.minimum - 1);
	if (typeof s.maximum === 'number')
		choices.push(() => s.maximum + 1);
	return pick(choices)();
}

// A body for OP: valid by its schema, or broken ({valid: false}).
function makeBody(op, breakIt)
{
	const rb = resolve(op.requestBody);
	if (!rb)
		return null;
	const schema = rb.content['application/json'].schema;
	let body = generate(schema);
	if (!breakIt)
		return { text: JSON.stringify(body), valid: true };
	const kind = Math.floor(rng() * 4);
	if (kind === 0 && body && typeof body === 'object' && !Array.isArray(body))
	{
		const ks = Object.keys(body);
		if (ks.length)
			delete body[pick(ks)];
		else
			body.unexpected = 'field';
	}
	else if (kind === 1 && body && typeof body === 'object' && !Array.isArray(body) && Object.keys(body).length)
	{
		const k = pick(Object.keys(body));
		body[k] = breakValue(body[k], {});
	}
	else if (kind === 2)
		body = breakValue(body, schema);
	else
		body = pick([[], 'a string', 7, null, { phone_number: '+0000', name: ' ', body: '' }]);
	return { text: JSON.stringify(body), valid: false };
}

// The auth header of one request: [headers, label, valid-by-document].
function makeAuth(op)
{
	const k = pick(['bearer', 'bearer', 'x-api-key', 'x-api-key', 'none', 'unknown', 'scope', 'other']);
	switch (k)
	{
		case 'bearer':
			return [{ authorization: `Bearer ${keys.all}` }, k, true];
		case 'x-api-key':
			return [{ 'x-api-key': keys.all }, k, true];
		case 'none':
			return [{}, k, false];
		case 'unknown':
			return [chance(0.5) ? { authorization: 'Bearer bar9_key_nonsense' } : { 'x-api-key': 'nonsense' }, k, true];
		case 'scope':
		{
			const scoped = pick(keys.scoped);
			return [chance(0.5) ? { authorization: `Bearer ${scoped}` } : { 'x-api-key': scoped }, k, true];
		}
		default:
			return [chance(0.5) ? { authorization: `Bearer ${keys.other}` } : { 'x-api-key': keys.other }, k, true];
	}
}

// One request of operation OP: {base, method, path, headers, body, valid}.
function makeRequest(op)
{
	const breakIt = chance(0.35);
	let valid = !breakIt;
	let path = op.path;
	const query = new URLSearchParams();
	const headers = { accept: 'application/json' };
	for (const p of op.params)
	{
		let v = paramValue(p, op);
		if (breakIt && chance(0.3))
		{
			v = breakValue(v, p.schema);
			valid = false;
		}
		if (p.in === 'path')
			path = path.replace(`{${p.name}}`, encodeURIComponent(typeof v === 'string' ? v : JSON.stringify(v)));
		else if (p.in === 'query' && (p.required || chance(0.5)))
			query.set(p.name, typeof v === 'string' ? v : JSON.stringify(v));
		else if (p.in === 'header' && chance(0.5))
		{
			const hv = typeof v === 'string' ? v : JSON.stringify(v);
			// only what HTTP can carry in a header: visible ASCII
			headers[p.name.toLowerCase()] = hv.replace(/[^\x20-\x7e]/g, '').slice(0, 300) || 'k';
		}
	}
	if (breakIt && chance(0.2))
		query.set(pick(['limit', 'starting_after', 'status', 'junk']), pick(['0', '-1', '101', '1e3', '', '%zz', 'mkt_', '+1']));
	const qs = query.toString();
	if (qs)
		path += '?' + qs;
	if (op.secured)
	{
		const [h, , authValid] = makeAuth(op);
		Object.assign(headers, h);
		valid = valid && authValid;
	}
	let body = makeBody(op.op, breakIt);
	if (!body && breakIt && op.method !== 'get' && chance(0.3))
		body = { text: JSON.stringify({ unexpected: 1 }), valid: false };
	if (body)
	{
		headers['content-type'] = 'application/json';
		if (!body.valid)
			valid = false;
	}
	// Prism forwards the request's Content-Length with the body it
	// re-serialized: a JSON null it drops, so that goes straight to bar9
	if ((breakIt && op.op.requestBody && chance(0.12)) || (body && body.text === 'null'))
	{
		// bytes no JSON parser takes, or another media type: straight to bar9
		return {
			base: args.direct, method: op.method, path, valid: false, direct: true,
			headers: { ...headers, 'content-type': pick(['application/json', 'text/plain', 'application/xml']) },
			body: body && body.text === 'null' ? 'null' : pick(['{"name": ', '\xff\xfe{', '<x/>', '{"name":"a"}garbage', 'null null']),
		};
	}
	return { base: valid ? args.strict : args.lenient, method: op.method, path, headers, body: body ? body.text : undefined, valid };
}

// The document's violations that Prism named for a response (sl-violations).
function responseViolations(res)
{
	const raw = res.headers['sl-violations'];
	if (!raw)
		return [];
	let list;
	try
	{
		list = JSON.parse(raw);
	}
	catch (e)
	{
		return [`unreadable sl-violations header: ${raw.slice(0, 200)}`];
	}
	return list.filter((v) => (v.location || [])[0] === 'response' && v.severity === 'Error')
		.map((v) => `${(v.location || []).join('.')}: ${v.message}`);
}

// Judges one answer: a list of failure messages (empty when it is fine).
function judge(r, res)
{
	if (res.error)
		return [`no answer: ${res.error}`];
	const fails = [];
	const ct = res.headers['content-type'] || '';
	if (ct.startsWith('application/problem+json') && /prism\/errors#VIOLATIONS/.test(res.body))
		fails.push(`violates the document: ${res.body.slice(0, 600)}`);
	else if (ct.startsWith('application/problem+json') && /prism\/errors#/.test(res.body) && r.valid)
		fails.push(`Prism refused a request generated as valid: ${res.body.slice(0, 400)}`);
	else if (res.status >= 500)
		fails.push(`status ${res.status}: ${res.body.slice(0, 300)}`);
	for (const v of responseViolations(res))
		fails.push(`violates the document: ${v}`);
	if (r.direct && res.status < 500)
	{
		// no validator in between: at least the error body's shape
		let ok = false;
		try
		{
			const j = JSON.parse(res.body);
			ok = j && j.error && typeof j.error.code === 'string' && typeof j.error.message === 'string';
		}
		catch (e)
		{
			ok = false;
		}
		if (res.status < 400 || !ok)
			fails.push(`bad bytes answered ${res.status} ${res.body.slice(0, 200)}`);
	}
	return fails;
}

async function main()
{
	const started = Date.now();
	await setup();
	const stats = { requests: 0, valid: 0, invalid: 0, direct: 0, failures: 0, byStatus: {}, byOp: {} };
	const shown = {};
	const deadline = started + seconds * 1000;
	let round = 0;
	// every operation at least 20 times, then until the time is up
	while (round < 20 || Date.now() < deadline)
	{
		for (const op of operations)
		{
			const r = makeRequest(op);
			const res = await send(r.base, r.method, r.path, r.headers, r.body);
			stats.requests++;
			stats[r.direct ? 'direct' : (r.valid ? 'valid' : 'invalid')]++;
			const st = res.status || 'none';
			stats.byStatus[st] = (stats.byStatus[st] || 0) + 1;
			const opName = `${op.method.toUpperCase()} ${op.path}`;
			stats.byOp[opName] = (stats.byOp[opName] || 0) + 1;
			for (const f of judge(r, res))
			{
				stats.failures++;
				const kind = f.slice(0, 30);
				shown[kind] = (shown[kind] || 0) + 1;
				if (shown[kind] <= 20)
					console.log(`FAIL ${r.method.toUpperCase()} ${r.path.slice(0, 120)} (${r.valid ? 'valid' : 'invalid'}${r.direct ? ', direct' : ''}): ${f}`);
			}
		}
		round++;
	}
	const secs = ((Date.now() - started) / 1000).toFixed(1);
	console.log(`fuzz: seed ${args.seed || '(time)'}, ${operations.length} operations, ${stats.requests} requests in ${secs} s ` +
		`(${stats.valid} valid by the document, ${stats.invalid} invalid, ${stats.direct} raw bytes), ${stats.failures} failures`);
	console.log(`fuzz: by status ${JSON.stringify(stats.byStatus)}`);
	console.log(`fuzz: by operation ${JSON.stringify(stats.byOp)}`);
	process.exit(stats.failures ? 1 : 0);
}

main().catch((e) => {
	console.log(`fuzz: crashed: ${e.stack || e}`);
	process.exit(2);
});
