// Test only: verifies a magiclink sign-in token with an independent JOSE
// implementation (npm "jose"), against the JWKS the server publishes.
//
//   node verify.mjs <jwks-url> <issuer> <audience> <typ> <unix-seconds> < token
//
// Prints {"protectedHeader":…,"payload":…} and exits 0 when the token
// verifies; prints the error code and exits 1 otherwise.
import { createRemoteJWKSet, jwtVerify } from 'jose'

const [jwksURL, issuer, audience, typ, now] = process.argv.slice(2)
let token = ''
for await (const chunk of process.stdin) token += chunk
token = token.trim()

try {
  const { payload, protectedHeader } = await jwtVerify(token, createRemoteJWKSet(new URL(jwksURL)), {
    issuer,
    audience,
    typ,
    algorithms: ['EdDSA'],
    requiredClaims: ['jti', 'iat', 'exp'],
    currentDate: new Date(Number(now) * 1000),
  })
  console.log(JSON.stringify({ protectedHeader, payload }))
} catch (err) {
  console.error(err.code || err.name || String(err))
  process.exit(1)
}
