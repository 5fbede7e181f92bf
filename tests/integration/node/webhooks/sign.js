#!/usr/bin/env node
// sign.js - signs a body the way each provider's OFFICIAL library does, for
// the webhook plugin's tests (unit test vectors, integration requests).
//
//   node sign.js <scheme> <secret> <bodyfile> [timestamp] [id]
//
// prints a JSON object of the headers the provider sends:
//   stripe    stripe.webhooks.generateTestHeaderString (npm stripe)
//   github    sign() of @octokit/webhooks-methods
//   standard  new Webhook(secret).sign(id, date, payload) (npm standardwebhooks)
//   shopify   Shopify's documented algorithm (no official npm signer):
//             base64(HMAC-SHA256(secret, raw body)) with node's crypto
// TIMESTAMP (unix seconds) defaults to now; ID to a fixed test id. The body
// is read as UTF-8 text (the libraries take strings): use text bodies.
'use strict';
const fs = require('fs');
const crypto = require('crypto');

async function main() {
  const [scheme, secret, file, tsArg, idArg] = process.argv.slice(2);
  if (!scheme || secret === undefined || !file) {
    process.stderr.write('usage: node sign.js <scheme> <secret> <bodyfile> [timestamp] [id]\n');
    process.exit(2);
  }
  const body = fs.readFileSync(file === '-' ? 0 : file, 'utf8');
  const ts = tsArg ? parseInt(tsArg, 10) : Math.floor(Date.now() / 1000);
  const id = idArg || 'msg_portico_test';
  let headers;
  switch (scheme) {
    case 'stripe': {
      const Stripe = require('stripe');
      const stripe = new Stripe('sk_test_unused');
      headers = {
        'Stripe-Signature': stripe.webhooks.generateTestHeaderString({
          payload: body, secret, timestamp: ts,
        }),
      };
      break;
    }
    case 'github': {
      const { sign } = await import('@octokit/webhooks-methods');
      headers = {
        'X-Hub-Signature-256': await sign(secret, body),
        'X-GitHub-Delivery': id,
        'X-GitHub-Event': 'push',
      };
      break;
    }
    case 'standard': {
      const { Webhook } = require('standardwebhooks');
      const wh = new Webhook(secret);
      headers = {
        'webhook-id': id,
        'webhook-timestamp': String(ts),
        'webhook-signature': wh.sign(id, new Date(ts * 1000), body),
      };
      break;
    }
    case 'shopify':
      headers = {
        'X-Shopify-Hmac-Sha256': crypto.createHmac('sha256', secret).update(body, 'utf8')
          .digest('base64'),
        'X-Shopify-Webhook-Id': id,
        'X-Shopify-Topic': 'orders/create',
      };
      break;
    default:
      process.stderr.write(`sign.js: unknown scheme ${scheme} (stripe, github, standard, shopify)\n`);
      process.exit(2);
  }
  process.stdout.write(JSON.stringify(headers) + '\n');
}

main().catch((e) => {
  process.stderr.write(`sign.js: ${e.stack || e}\n`);
  process.exit(1);
});
