// smsc.js — an SMSC for bar9-sender's tests, `make up` and the bench,
// built on the npm package smpp 0.5.1 (server side): SMPP 3.4 code that is
// not bar9's, so that bar9's PDUs are never judged by its own decoder.
//
//   node smsc.js --port P --control C --record FILE [--system-id ID --password PW]
//
// It accepts transceiver binds, answers submit_sm (message ids unique across
// restarts) and sends a delivery receipt per submit_sm.  Like an SMSC it
// keeps a receipt until a bind answers it OK: one whose bind went away goes
// to another bind (now or at the next bind_transceiver), one answered with
// an error goes again a second later.  It records every PDU it receives as
// one JSON line in FILE (appended).
// An HTTP server on 127.0.0.1:C steers it, one JSON body per POST:
//   POST /mode     {"throttle": n}          the next n submit_sm: ESME_RTHROTTLED
//                  {"fail": {"<dest digits>": status}}  permanent errors
//                  {"receipt": "delivered"|"failed"|"none"|"held", "receipt_form": "tlv"|"text"|"both",
//                   "receipt_delay_ms": ms, "resp_delay_ms": ms,
//                   "receipt_first": true (the receipt goes before the submit_sm_resp)}
//   GET  /held     the receipts held (mode receipt "held"): [{"id", "destination_addr", "part"}]
//   POST /release  {"receipts": [{"id": "...", "receipt": "delivered"|"failed"}, ...]}
//                  sends those held receipts, in that order
//   POST /stray    {"n": n}   n receipts for message ids it never gave out, to a bind
//   POST /inbound  {"from": "2135...", "to": "38383", "text": "STOP"}   deliver_sm to every bind
//   POST /drop     closes every connection at once (a drop mid window)
//   GET  /stats    {"binds": n, "submits": n, "sessions": n}
'use strict';
const fs = require('fs');
const http = require('http');
const smpp = require('smpp');

const args = {};
for (let i = 2; i < process.argv.length; i += 2)
	args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const port = Number(args.port || 2775);
const control = Number(args.control || port + 1);
const record = args.record || '/dev/null';
const out = fs.openSync(record, 'a');

const mode = {throttle: 0, fail: {}, receipt: 'delivered', receipt_form: 'both',
	receipt_delay_ms: 20, resp_delay_ms: 0, receipt_first: false};
const stats = {binds: 0, submits: 0};
const prefix = Date.now().toString(36) + process.pid.toString(36);
let counter = 0;
const sessions = new Set();
const pending = [];	// receipts no bind has answered yet: [pdu, id, outcome]
const held = new Map();	// message id -> [pdu, id]: receipts held until /release

// Append one received PDU to the record.
function log(session, pdu) {
	const r = {t: Date.now(), session: session.bar9_id, command: pdu.command,
		seq: pdu.sequence_number, status: pdu.command_status};
	for (const k of ['system_id', 'password', 'system_type', 'source_addr', 'source_addr_ton',
		'source_addr_npi', 'destination_addr', 'dest_addr_ton', 'dest_addr_npi', 'esm_class',
		'registered_delivery', 'data_coding', 'sm_length', 'message_id'])
		if (pdu[k] !== undefined) r[k] = pdu[k];
	if (pdu.short_message !== undefined) {
		const sm = pdu.short_message;
		r.message = typeof sm === 'string' ? sm : (Buffer.isBuffer(sm) ? sm.toString('hex') : sm.message);
		if (sm && sm.udh) r.udh = sm.udh.map(b => b.toString('hex'));
	}
	fs.writeSync(out, JSON.stringify(r) + '\n');
}

// The receipt for message id `id` of a submit_sm `pdu` (outcome: as the mode says).
function receipt(session, pdu, id, outcome) {
	const ok = (outcome || mode.receipt) === 'delivered';
	const stat = ok ? 'DELIVRD' : 'UNDELIV';
	const text = `id:${id} sub:001 dlvrd:${ok ? '001' : '000'} submit date:2601010000 ` +
		`done date:2601010000 stat:${stat} err:${ok ? '000' : '034'} text:`;
	const d = {source_addr: pdu.destination_addr, source_addr_ton: 1, source_addr_npi: 1,
		destination_addr: pdu.source_addr, esm_class: 4, data_coding: 1,
		short_message: mode.receipt_form === 'tlv' ? 'receipt' : text};
	if (mode.receipt_form !== 'text') {
		d.receipted_message_id = id;
		d.message_state = ok ? 2 : 5;
	}
	if (mode.receipt_form === 'tlv') d.short_message = 'receipt';
	// kept until answered OK: one the bind did not answer goes to a bind
	// still up or the next one; one answered with an error (the ESME could
	// not take it, e.g. ESME_RX_T_APPN) is sent again a second later
	const entry = [pdu, id, outcome];
	session.bar9_unanswered.add(entry);
	session.deliver_sm(d, resp => {
		session.bar9_unanswered.delete(entry);
		if (resp.command_status !== 0) setTimeout(() => keep(entry), 1000);
	});
}

// A bind that is up (bound and not closed), or undefined.
function boundSession() {
	return [...sessions].find(s => s.bar9_bound && !s.closed);
}

// Keep a receipt no bind took, and send the kept ones to a bind that is up.
function keep(entry) {
	if (entry) pending.push(entry);
	const bound = boundSession();
	if (bound)
		for (const [p, id, outcome] of pending.splice(0)) receipt(bound, p, id, outcome);
}

// Answer a submit_sm as the mode says.
function onSubmit(session, pdu) {
	stats.submits++;
	let status = 0;
	if (mode.throttle > 0) {
		mode.throttle--;
		status = 0x58;
	} else if (mode.fail[pdu.destination_addr] !== undefined) {
		status = mode.fail[pdu.destination_addr];
	}
	const id = status === 0 ? `${prefix}-${++counter}` : undefined;
	const wanted = status === 0 && (pdu.registered_delivery & 1) && mode.receipt !== 'none';
	const answer = () => {
		if (session.closed) return;
		// some SMSCs send the receipt before the submit_sm_resp
		const first = wanted && mode.receipt_first && mode.receipt !== 'held';
		if (first) receipt(session, pdu, id);
		session.send(pdu.response(status === 0 ? {message_id: id} : {command_status: status}));
		if (wanted && !first)
			if (mode.receipt === 'held') held.set(id, [pdu, id]);
			else setTimeout(() => {
				// a receipt for a bind that is gone goes to another, as SMSCs keep them
				if (session.closed) keep([pdu, id]); else receipt(session, pdu, id);
			}, mode.receipt_delay_ms);
	};
	if (mode.resp_delay_ms > 0) setTimeout(answer, mode.resp_delay_ms); else answer();
}

const server = smpp.createServer(session => {
	session.bar9_id = ++stats.binds;
	// no Nagle: answers go out as written (a real SMSC answers promptly)
	session.socket.setNoDelay(true);
	session.bar9_unanswered = new Set();
	sessions.add(session);
	const gone = () => {
		if (session.closed) return;
		session.closed = true;
		sessions.delete(session);
		const unanswered = [...session.bar9_unanswered];
		session.bar9_unanswered.clear();
		for (const e of unanswered) pending.push(e);
		keep();
	};
	session.on('close', gone);
	session.on('error', gone);
	session.on('pdu', pdu => {
		log(session, pdu);
		switch (pdu.command) {
		case 'bind_transceiver':
			if ((args['system-id'] && pdu.system_id !== args['system-id']) ||
				(args.password && pdu.password !== args.password))
				session.send(pdu.response({command_status: 0x0E}));	// ESME_RINVPASWD
			else {
				session.send(pdu.response({system_id: 'bar9-smsc'}));
				session.bar9_bound = true;
				keep();
			}
			break;
		case 'submit_sm': onSubmit(session, pdu); break;
		case 'enquire_link': session.send(pdu.response()); break;
		case 'unbind': session.send(pdu.response()); gone(); session.close(); break;
		default: break;
		}
	});
});
server.listen(port, '127.0.0.1');

// Read a request's JSON body.
function body(req, cb) {
	let s = '';
	req.on('data', c => { s += c; });
	req.on('end', () => { try { cb(s ? JSON.parse(s) : {}); } catch (e) { cb(null); } });
}

http.createServer((req, res) => {
	const done = (code, obj) => { res.writeHead(code, {'content-type': 'application/json'}); res.end(JSON.stringify(obj)); };
	if (req.method === 'GET' && req.url === '/stats')
		return done(200, Object.assign({sessions: sessions.size}, stats));
	if (req.method === 'GET' && req.url === '/held')
		return done(200, [...held.values()].map(([p, id]) => {
			const sm = p.short_message;
			const udh = sm && sm.udh && sm.udh[0];
			return {id, destination_addr: p.destination_addr, part: udh ? udh[4] : 1};
		}));
	body(req, b => {
		if (b === null) return done(400, {error: 'bad json'});
		if (req.url === '/mode') { Object.assign(mode, b); return done(200, mode); }
		if (req.url === '/release') {
			const session = boundSession();
			if (!session) return done(409, {error: 'no bind'});
			for (const r of b.receipts || []) {
				const h = held.get(r.id);
				if (!h) return done(404, {error: `no receipt held for ${r.id}`});
				held.delete(r.id);
				receipt(session, h[0], h[1], r.receipt);
			}
			return done(200, {held: held.size});
		}
		if (req.url === '/stray') {
			const session = boundSession();
			if (!session) return done(409, {error: 'no bind'});
			const pdu = {source_addr: 'BAR9', destination_addr: '2135550000'};
			for (let i = 0; i < (b.n || 1); i++) receipt(session, pdu, `stray-${++counter}`);
			return done(200, {sent: b.n || 1});
		}
		if (req.url === '/drop') { for (const s of sessions) s.socket.destroy(); return done(200, {}); }
		if (req.url === '/inbound') {
			let n = 0;
			for (const s of sessions) {
				n++;
				s.deliver_sm({source_addr: b.from, source_addr_ton: 1, source_addr_npi: 1,
					destination_addr: b.to, dest_addr_ton: b.to_ton === undefined ? 3 : b.to_ton,
					dest_addr_npi: 0, short_message: b.text});
			}
			return done(200, {sent: n});
		}
		done(404, {});
	});
}).listen(control, '127.0.0.1', () => {
	process.stdout.write(`smsc: listening on 127.0.0.1:${port}, control on 127.0.0.1:${control}\n`);
});

process.on('SIGTERM', () => process.exit(0));
