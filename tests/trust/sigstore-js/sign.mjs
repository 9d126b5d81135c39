// node sign.mjs HOST REPO DIGEST PRIVATE_KEY_PEM IDENTITY
// Signs REPO@DIGEST with Sigstore's JavaScript signer (a DSSE bundle around an in-toto
// statement, key-based: no Fulcio, no Rekor) and attaches the bundle to the image as an OCI
// referrer with @sigstore/oci. Prints the bundle.
import crypto from 'node:crypto';
import fs from 'node:fs';
import { bundleToJSON } from '@sigstore/bundle';
import { attachArtifactToImage } from '@sigstore/oci';
import { DSSEBundleBuilder } from '@sigstore/sign';

const [host, repo, digest, keyFile, identity] = process.argv.slice(2);
const privateKey = crypto.createPrivateKey(fs.readFileSync(keyFile));
const publicKey = crypto.createPublicKey(privateKey).export({ type: 'spki', format: 'pem' });

const signer = {
  async sign(data) {
    return { signature: crypto.sign('sha256', data, privateKey),
             key: { $case: 'publicKey', publicKey: publicKey.toString() } };
  },
};
const statement = {
  _type: 'https://in-toto.io/Statement/v1',
  subject: [{ name: identity, digest: { sha256: digest.replace('sha256:', '') } }],
  predicateType: 'https://sigstore.dev/cosign/sign/v1',
  predicate: {},
};
const builder = new DSSEBundleBuilder({ signer, witnesses: [] });
const bundle = await builder.create({ data: Buffer.from(JSON.stringify(statement)),
                                      type: 'application/vnd.in-toto+json' });
const json = bundleToJSON(bundle);
await attachArtifactToImage({
  imageName: `${host}/${repo}`,
  imageDigest: digest,
  artifact: Buffer.from(JSON.stringify(json)),
  mediaType: json.mediaType,
  annotations: { 'dev.sigstore.bundle.content': 'dsse-envelope',
                 'dev.sigstore.bundle.predicateType': statement.predicateType },
  credentials: undefined, // an open registry: no sign-in
});
console.log(JSON.stringify(json));
