/** The `help trust` topic: who can do what under each configuration, and ready bucket policies. */
export const TRUST_HELP = `Trust: who can make every runner link what

The SHA-256 check proves an output is itself; it cannot prove that an action
maps to it. Whoever can write a record the plugin trusts chooses what every
runner links for that action. Four configurations, from open to closed:

  plain       Every job that can write the bucket (or --prefix) can poison
              every job that reads it. One trust level per bucket or prefix.
  read-only   --read-only: the job writes nothing (no uploads, no manifests,
              no journal). For builds that must not write at all (forks).
  namespaces  --prefix pr/1234 --read-prefix main[,other...]: reads try the
              own prefix, then each read prefix in order (records, manifests,
              packs, outputs); writes never leave --prefix. A pull request
              gets every hit main built, and main never reads pr/. The
              bucket's permissions (below) enforce it; the plugin itself
              simply never writes elsewhere.
  signed      --signing-key-file FILE: every record written is signed
              (HMAC-SHA256 or Ed25519) and a record is trusted only with a valid
              signature from a listed key for its prefix. Unsigned records
              (the compatible action/ layout, the Go original's, any build
              without the key) and bad signatures are misses, counted
              (remote_unsigned, remote_bad_signature) and warned once.
              Prefetch installs nothing from a manifest whose signature fails.
              Bucket write access alone no longer poisons: a key is needed.

Key file (mode 0600 or stricter, else refused), one key a line:
  <key id> <secret> [<namespace>,...]                     HMAC: signs and verifies
  <key id> ed25519:<private key> [<namespace>,...]        signs and verifies
  <key id> ed25519-public:<public key> [<namespace>,...]  verifies only
'go-cache-plugin keygen ID' writes a new Ed25519 pair (ID.key, ID.pub). The
first key signs (it cannot be a public key), all verify. A key with
namespaces verifies records read from those prefixes only ('/' is the
bucket root). Rotation: put the new key first and keep the old one below it
until its records have expired. Key IDs appear in logs; key material never
does.

  main jobs:               main-2026 ed25519:<main private key>
  trusted PR jobs:         pr-1234 ed25519:<pr private key> pr/1234
                           main-2026 ed25519-public:<main public key> main
  PR jobs of untrusted code (forks): no key file at all.
Nothing a PR signs is trusted by main (main lists only main's key), and a PR
job holding main's public key cannot sign like main, even if a policy
mistake let it write main/. A secret (HMAC) is symmetric: a PR job given
main's secret could sign as main, and only the bucket's permissions would
stop it; give secrets only to jobs you trust like main. A PR job without a
key trusts main/ through the bucket's permissions alone.

A signature covers key id, prefix, action ID, output ID, size and time (ax
records), the entry list (manifests) and the action and manifest (index
pointers); packs need none (each output is checked against its signed
manifest entry). Without a key nothing is signed or checked, as before.

Bucket permissions: PR jobs write pr/<n>/ and read main/, main jobs write
main/. S3 (IAM policy of the PR role; the bucket is go-cache):
  {"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": ["s3:GetObject"],
     "Resource": ["arn:aws:s3:::go-cache/main/*", "arn:aws:s3:::go-cache/pr/1234/*"]},
    {"Effect": "Allow", "Action": ["s3:PutObject"],
     "Resource": "arn:aws:s3:::go-cache/pr/1234/*"},
    {"Effect": "Allow", "Action": ["s3:ListBucket"], "Resource": "arn:aws:s3:::go-cache",
     "Condition": {"StringLike": {"s3:prefix": ["main/*", "pr/1234/*"]}}}]}
  (for every PR at once use pr/\${aws:PrincipalTag/pr}/* with a session tag)

GCS (IAM Conditions on the PR service account):
  gcloud storage buckets add-iam-policy-binding gs://go-cache \\
    --member=serviceAccount:pr-ci@PROJECT.iam.gserviceaccount.com \\
    --role=roles/storage.objectViewer \\
    --condition='title=read-main-and-own,expression=resource.name.startsWith("projects/_/buckets/go-cache/objects/main/") || resource.name.startsWith("projects/_/buckets/go-cache/objects/pr/1234/")'
  gcloud storage buckets add-iam-policy-binding gs://go-cache \\
    --member=serviceAccount:pr-ci@PROJECT.iam.gserviceaccount.com \\
    --role=roles/storage.objectCreator \\
    --condition='title=write-own,expression=resource.name.startsWith("projects/_/buckets/go-cache/objects/pr/1234/")'

Azure (RBAC role assignments with ABAC conditions on the PR identity):
  az role assignment create --assignee PR_PRINCIPAL_ID \\
    --role "Storage Blob Data Reader" --scope ".../storageAccounts/ACCOUNT/blobServices/default/containers/go-cache" \\
    --condition-version 2.0 --condition "((!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'})) OR (@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringStartsWith 'main/' OR @Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringStartsWith 'pr/1234/'))"
  az role assignment create --assignee PR_PRINCIPAL_ID \\
    --role "Storage Blob Data Contributor" --scope ".../containers/go-cache" \\
    --condition-version 2.0 --condition "((!(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/write'}) AND !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/add/action'}) AND !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/read'}) AND !(ActionMatches{'Microsoft.Storage/storageAccounts/blobServices/containers/blobs/delete'})) OR (@Resource[Microsoft.Storage/storageAccounts/blobServices/containers/blobs:path] StringStartsWith 'pr/1234/'))"

Then run PR jobs with --prefix pr/1234 --read-prefix main (add the key file
for signed mode) and main jobs with --prefix main. The README's "Trust"
section has the same, with a table.
`;
