// Independent check of vectors.json with Node's crypto (no Go code involved).
// Run from the repository root:  node verify/testdata/crosscheck.mjs
// It recomputes every signature from the raw key material and verifies it
// with the public keys of the JWKS in the file; it exits 1 on any mismatch.
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = path.dirname(fileURLToPath(import.meta.url));
const vf = JSON.parse(fs.readFileSync(path.join(dir, 'vectors.json'), 'utf8'));

// Ed25519 private key from the 32-byte seed: PKCS #8 DER prefix + seed.
const edPriv = crypto.createPrivateKey({
  key: Buffer.concat([Buffer.from('302e020100300506032b657004220420', 'hex'), Buffer.from(vf.ed25519_seed_hex, 'hex')]),
  format: 'der', type: 'pkcs8',
});
const rsaPriv = crypto.createPrivateKey(fs.readFileSync(path.join(dir, vf.rsa_key_file)));
const pub = {};
for (const jwk of vf.jwks.keys) pub[jwk.kid] = crypto.createPublicKey({ key: jwk, format: 'jwk' });

let failed = 0;
const report = (name, ok, detail) => { console.log(`${ok ? 'ok  ' : 'FAIL'} ${name}: ${detail}`); if (!ok) failed++; };

for (const c of vf.cases) {
  const content = Buffer.from(`${c.id}.${c.timestamp}.${c.body}`, 'utf8');
  if (c.scheme === 'v1') {
    const key = Buffer.from(c.secret.replace(/^whsec_/, ''), 'base64');
    const want = 'v1,' + crypto.createHmac('sha256', key).update(content).digest('base64');
    report(c.name, want === c.signature, `HMAC-SHA256 ${want}`);
  } else if (c.scheme === 'v1a') {
    const sig = crypto.sign(null, content, edPriv);
    const want = 'v1a,' + sig.toString('base64');
    const verified = crypto.verify(null, content, pub[c.key_id], Buffer.from(c.signature.slice(4), 'base64'));
    report(c.name, want === c.signature && verified, `Ed25519 sign equal=${want === c.signature}, verify with JWKS ${c.key_id}=${verified}`);
  } else if (c.scheme === 'jwt') {
    const [h, p, s] = c.signature.split('.');
    const header = JSON.parse(Buffer.from(h, 'base64url'));
    const claims = JSON.parse(Buffer.from(p, 'base64url'));
    const signer = crypto.createSign('RSA-SHA256');
    signer.update(`${h}.${p}`);
    const want = signer.sign(rsaPriv).toString('base64url');
    const verifier = crypto.createVerify('RSA-SHA256');
    verifier.update(`${h}.${p}`);
    const verified = verifier.verify(pub[header.kid], Buffer.from(s, 'base64url'));
    const claimsOK = header.alg === 'RS256' && header.kid === c.key_id && claims.aud === vf.audience &&
      claims.exp === Number(c.timestamp) + 300;
    report(c.name, want === s && verified && claimsOK,
      `RS256 sign equal=${want === s}, verify with JWKS ${header.kid}=${verified}, header=${JSON.stringify(header)} claims=${JSON.stringify(claims)}`);
  } else {
    report(c.name, false, `unknown scheme ${c.scheme}`);
  }
}
console.log(failed ? `${failed} FAILED` : 'all vectors agree');
process.exit(failed ? 1 : 0);
