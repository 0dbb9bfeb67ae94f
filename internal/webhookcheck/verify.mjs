// Test only: verifies a magiclink webhook delivery with an independent
// Standard Webhooks implementation (npm "standardwebhooks").
//
//   WEBHOOK_SECRET=whsec_… node verify.mjs <webhook-id> <webhook-timestamp> <webhook-signature> < body
//
// Prints the verified payload as JSON and exits 0; prints the error and
// exits 1 when the delivery does not verify (tampered body, stale
// timestamp, wrong secret).
import { Webhook } from 'standardwebhooks'

const [id, timestamp, signature] = process.argv.slice(2)
const chunks = []
for await (const chunk of process.stdin) chunks.push(chunk)
const body = Buffer.concat(chunks).toString('utf8')

try {
  const payload = new Webhook(process.env.WEBHOOK_SECRET).verify(body, {
    'webhook-id': id,
    'webhook-timestamp': timestamp,
    'webhook-signature': signature,
  })
  console.log(JSON.stringify(payload))
} catch (err) {
  console.error(err.message || String(err))
  process.exit(1)
}
