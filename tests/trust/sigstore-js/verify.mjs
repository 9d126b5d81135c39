// node verify.mjs HOST REPO DIGEST PUBLIC_KEY_PEM
// Finds the Sigstore bundles among the referrers of REPO@DIGEST and verifies each with
// @sigstore/verify against the public key alone (no transparency log, no timestamps: the
// thresholds are 0). Prints each verified statement; exits 1 if none verifies.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { bundleFromJSON } from '@sigstore/bundle';
import { Verifier, toSignedEntity, toTrustMaterial } from '@sigstore/verify';

const [host, repo, digest, keyFile] = process.argv.slice(2);
const publicKey = crypto.createPublicKey(fs.readFileSync(keyFile));
const BUNDLE = 'application/vnd.dev.sigstore.bundle.v0.3+json';
const base = `http://${host}/v2/${repo}`;

const index = await (await fetch(`${base}/referrers/${digest}?artifactType=${encodeURIComponent(BUNDLE)}`,
  { headers: { Accept: 'application/vnd.oci.image.index.v1+json' } })).json();
const root = { mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
               tlogs: [], certificateAuthorities: [], ctlogs: [], timestampAuthorities: [] };
const trust = toTrustMaterial(root, () => ({ publicKey, validFor: () => true }));
const verifier = new Verifier(trust, { tlogThreshold: 0, ctlogThreshold: 0,
                                       timestampThreshold: 0 });
let verified = 0;
for (const desc of index.manifests ?? []) {
  const manifest = await (await fetch(`${base}/manifests/${desc.digest}`,
    { headers: { Accept: 'application/vnd.oci.image.manifest.v1+json' } })).json();
  const layer = manifest.layers.find((l) => l.mediaType === BUNDLE);
  const bundle = bundleFromJSON(await (await fetch(`${base}/blobs/${layer.digest}`)).json());
  try {
    verifier.verify(toSignedEntity(bundle));
  } catch (err) {
    console.error(`${desc.digest}: ${err.message}`);
    continue;
  }
  const statement = JSON.parse(Buffer.from(bundle.content.dsseEnvelope.payload).toString());
  if (statement.subject.some((s) => `sha256:${s.digest.sha256}` === digest)) {
    console.log(JSON.stringify(statement));
    verified++;
  }
}
process.exit(verified ? 0 : 1);
