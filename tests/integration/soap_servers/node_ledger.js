/*
 * node_ledger.js - tests/data/soap/ledger.wsdl served by node-soap (npm
 * `soap`), for test_soap_interop.py: the SOAP 1.1 port at /ledger/soap11 and
 * the SOAP 1.2 port at /ledger/soap12 (node-soap picks the binding by the
 * path of the port's soap:address), in-memory accounts, AccountNotFound
 * faults of both versions.
 *
 *   node node_ledger.js PORT [WSDL]
 *
 * Listens on 127.0.0.1:PORT, prints "READY <port>" once both ports serve,
 * logs one line per request on stderr. GET /__last answers the last SOAP
 * request as JSON (path, content-type, soapaction, body) so tests can check
 * what the client sent. Exits on stdin EOF, SIGTERM, or after 10 minutes
 * whatever happens.
 */
'use strict';
const fs = require('fs');
const http = require('http');
const path = require('path');
const { createRequire } = require('module');

/* npm ci in tests/integration/node/soap installs node-soap there. */
const soap = createRequire(path.join(__dirname, '..', 'node', 'soap', 'package.json'))('soap');

const port = parseInt(process.argv[2], 10);
const wsdlPath = path.resolve(process.argv[3] ||
	path.join(__dirname, '..', '..', 'data', 'soap', 'ledger.wsdl'));
if (!(port > 0 && port < 65536)) {
	process.stderr.write('usage: node node_ledger.js PORT [WSDL]\n');
	process.exit(2);
}

const LIFETIME_MS = 10 * 60 * 1000;
setTimeout(() => process.exit(0), LIFETIME_MS);
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
process.stdin.resume();
process.on('SIGTERM', () => process.exit(0));

/* The accounts. Ids and balances are strings where a JS number would lose
 * digits (the long 9007199254740993 is 2^53 + 1). */
const PHOTO = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0x00, 0xff, 0x10, 0x80]);
const ACCOUNTS = [
	{ id: '1', owner: 'Ada Lovelace', balance: '1250.75', currency: 'EUR',
	  opened: '2019-03-01T09:30:00Z', active: true, tags: ['vip', 'savings'],
	  note: 'prefers <email> & "letters"',
	  address: { street: "12 St James's Square", city: 'London', postalCode: 'SW1Y 4JH', country: 'GB' },
	  photo: PHOTO.toString('base64') },
	{ id: '2', owner: 'Alan Turing', balance: '-20.5', currency: 'GBP',
	  opened: '2020-06-23T00:00:00Z', active: false, tags: ['overdrawn'], note: null,
	  address: { street: 'Hollymeade', city: 'Wilmslow', country: 'GB' } },
	{ id: '3', owner: 'Grace Hopper', balance: '1000000.01', currency: 'USD',
	  opened: '2021-12-09T17:45:30.5Z', active: true, tags: [], note: '',
	  address: { street: '1 Navy Way', city: 'Arlington', postalCode: '22202', country: 'US' } },
	{ id: '5', owner: 'Émilie du Châtelet', balance: '99.99', currency: 'EUR',
	  opened: '1745-01-01T00:00:00Z', active: false, tags: ['physique', '名前', '🚀'],
	  note: 'naïve café – ∑ \u00a0',
	  address: { street: 'Rue de la Ferronnerie', city: 'Lunéville', country: 'FR' },
	  photo: '' },
	{ id: '9007199254740993', owner: 'Alonzo Church', balance: '0', currency: 'USD',
	  opened: '1936-04-01T12:00:00Z', active: true, tags: ['legacy', 'migrated', 'lambda'],
	  note: 'migrated from the mainframe',
	  address: { street: 'Fine Hall', city: 'Princeton', postalCode: '08544', country: 'US' } },
];

/* An account as node-soap serializes it: elements in schema order, absent
 * optional ones left out, xsi:nil for null. */
function accountXmlObject(a) {
	const o = { id: a.id, owner: a.owner, balance: a.balance, currency: a.currency,
	            opened: a.opened, active: a.active };
	if (a.tags.length)
		o.tags = a.tags;
	o.note = a.note;
	/* node-soap puts the children of a type from an imported schema in the
	 * parent's namespace; prefixed keys put them in the Address type's own
	 * namespace (cmn: is declared on the envelope, from the WSDL). */
	o.address = {};
	for (const k of ['street', 'city', 'postalCode', 'country'])
		if (a.address[k] !== undefined)
			o.address['cmn:' + k] = a.address[k];
	if (a.photo !== undefined)
		o.photo = a.photo;
	return o;
}

function notFound(version, id) {
	const detail = { 'tns:AccountNotFound': { 'tns:accountId': String(id), 'tns:message': 'no account ' + id } };
	if (version === 12)
		return { Fault: {
			Code: { Value: 'soap:Sender', Subcode: { Value: 'tns:AccountNotFound' } },
			Reason: { Text: 'account ' + id + ' does not exist' },
			Detail: detail, statusCode: 500 } };
	return { Fault: { faultcode: 'soap:Client', faultstring: 'account ' + id + ' does not exist',
	                  detail: detail, statusCode: 500 } };
}

function badRequest(version, text) {
	if (version === 12)
		return { Fault: { Code: { Value: 'soap:Sender' }, Reason: { Text: text }, statusCode: 500 } };
	return { Fault: { faultcode: 'soap:Client', faultstring: text, statusCode: 500 } };
}

let receipts = 0;

function impl(version) {
	return {
		GetAccount(args) {
			const id = String(args.accountId);
			const a = ACCOUNTS.find((x) => x.id === id);
			if (!a)
				throw notFound(version, id);
			return { account: accountXmlObject(a) };
		},
		ListAccounts(args) {
			const prefix = String(args.ownerPrefix == null ? '' : args.ownerPrefix);
			let limit = args.limit == null ? 100 : parseInt(args.limit, 10);
			if (!(limit >= 0))
				throw badRequest(version, 'limit must be a number >= 0');
			const hits = ACCOUNTS.filter((x) => x.owner.startsWith(prefix)).slice(0, limit);
			return { account: hits.map(accountXmlObject) };
		},
		Transfer(args, cb, headers, req) {
			/* node-soap parses xsd:long into a JS number (digits past 2^53
			 * lost): the ids as the client wrote them, from the raw body. */
			const id = (name) => {
				const m = new RegExp('<(?:\\w+:)?' + name + '>\\s*(-?\\d+)\\s*<').exec(req.rawBody || '');
				return m ? m[1] : String(args[name]);
			};
			const from = ACCOUNTS.find((x) => x.id === id('from'));
			const to = ACCOUNTS.find((x) => x.id === id('to'));
			if (!from)
				throw notFound(version, id('from'));
			if (!to)
				throw notFound(version, id('to'));
			const amount = Number(args.amount);
			if (!(amount > 0))
				throw badRequest(version, 'amount must be positive');
			receipts++;
			return { receipt: {
				attributes: { reference: 'TX-' + String(receipts).padStart(6, '0'),
				              status: amount >= 10000 ? 'pending' : 'settled' },
				from: from.id, to: to.id, amount: String(args.amount),
				executed: '2024-05-17T10:00:00Z',
				/* the memo as sent: absent, xsi:nil (null) or text */
				memo: args.memo } };
		},
	};
}

const xml = fs.readFileSync(wsdlPath, 'utf8');
let last = null;
const server = http.createServer((req, res) => {
	if (req.method === 'GET' && req.url === '/__last') {
		res.setHeader('Content-Type', 'application/json');
		res.end(JSON.stringify(last));
		return;
	}
	res.statusCode = 404;
	res.end();
});

/* Keeps each SOAP request's raw body (req.rawBody, and `last`). Runs before
 * node-soap's own listener, so the body is there when an operation runs. */
function record(req) {
	if (req.method !== 'POST')
		return;
	const chunks = [];
	req.on('data', (c) => chunks.push(c));
	req.on('end', () => {
		req.rawBody = Buffer.concat(chunks).toString('utf8');
		last = { path: req.url, contentType: req.headers['content-type'] || null,
		         soapAction: req.headers.soapaction === undefined ? null : req.headers.soapaction,
		         body: req.rawBody };
		process.stderr.write('node-soap: POST ' + req.url + ' ' + last.contentType + ' ' +
		                     last.soapAction + ' ' + last.body + '\n');
	});
}

const services = { Ledger: { LedgerSoap: impl(11), LedgerSoap12: impl(12) } };
let ready = 0;
function onReady(err) {
	if (err) {
		process.stderr.write('node-soap: ' + err + '\n');
		process.exit(1);
	}
	if (++ready < 2)
		return;
	const soapListeners = server.listeners('request');
	server.removeAllListeners('request');
	server.on('request', record);
	for (const l of soapListeners)
		server.on('request', l);
	server.listen(port, '127.0.0.1', () => process.stdout.write('READY ' + port + '\n'));
}
for (const [p, v12] of [['/ledger/soap11', false], ['/ledger/soap12', true]]) {
	const s = soap.listen(server, { path: p, services, xml, uri: wsdlPath,
	                                forceSoap12Headers: v12, suppressStack: true,
	                                callback: onReady });
	/* node-soap 1.13 writes xsi:nil="true" without declaring the xsi prefix
	 * (its envelope declares only the WSDL's own namespaces): declare it, so
	 * the answers are namespace-well-formed XML. */
	s.on('response', (r) => {
		if (process.env.NODE_LEDGER_RAW_XSI)   /* tests: node-soap's answer as it is */
			return;
		if (typeof r.result === 'string' && r.result.includes('xsi:') &&
		    !r.result.includes('xmlns:xsi='))
			r.result = r.result.replace(/<soap:Envelope /,
				'<soap:Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" ');
	});
	s.log = (type, data) => {
		if (type === 'error')
			process.stderr.write('node-soap: error ' + (data && data.stack || JSON.stringify(data)) + '\n');
	};
}
