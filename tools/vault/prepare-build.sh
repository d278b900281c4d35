#!/usr/bin/env bash
# Prepares the Vault build and prints the extra go flag it needs (-modfile=...).
#
#   tools/vault/prepare-build.sh OUT_DIR
#
# Why: Vault v1.14.1 was released against the sdk folder of its own repository, which the module proxy
# does not serve. Of the published sdk versions, v0.9.1 is too old (transit needs
# keysutil.Policy.WrapKey) and v0.9.2 is one check too new: its framework.Backend.init panics on routes
# that declare a CreateOperation without an ExistenceCheck, which Vault 1.14's enterprise-only route
# stubs (sys/managed-keys/...) do, so the server panics on its first request. Vault 1.14's own sdk did
# not have that check.
#
# So, at build time and outside the work tree, this copies sdk v0.9.2 from the module cache into
# OUT_DIR/sdk, removes that one check from framework/backend.go, and writes OUT_DIR/go.mod: the wrapper's
# go.mod with the sdk replaced by that folder. Go does not allow overlays of module-cache files, hence a
# separate -modfile. Nothing of Vault's code is kept in this repository.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out="${1:?usage: prepare-build.sh OUT_DIR}"
sdk_version="$(sed -n 's#^\s*github.com/hashicorp/vault/sdk => github.com/hashicorp/vault/sdk \(v\S*\)$#\1#p' "$here/go.mod")"
[ -n "$sdk_version" ] || { echo "prepare-build: no sdk replace line in $here/go.mod" >&2; exit 1; }
src="$(cd "$here" && go mod download -json "github.com/hashicorp/vault/sdk@$sdk_version" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
rm -rf "$out"
mkdir -p "$out"
cp -r "$src" "$out/sdk"
chmod -R u+w "$out/sdk"
python3 - "$out/sdk/framework/backend.go" <<'PY'
import re, sys
path = sys.argv[1]
text = open(path).read()
pattern = re.compile(
    r"\n\t\t// Detect the coding error of attempting to define a CreateOperation without defining an ExistenceCheck\n"
    r"\t\tif p\.ExistenceCheck == nil \{\n.*?\n\t\t\}\n",
    re.S,
)
patched, count = pattern.subn("\n", text, count=1)
if count != 1 or "defines a CreateOperation but no ExistenceCheck" in patched:
    sys.exit(f"prepare-build: the ExistenceCheck panic was not found in {path}; did the sdk version change?")
open(path, "w").write(patched)
PY
sed "s#^\(\s*github.com/hashicorp/vault/sdk =>\) github.com/hashicorp/vault/sdk v\S*\$#\1 $out/sdk#" "$here/go.mod" > "$out/go.mod"
grep -q "=> $out/sdk" "$out/go.mod" || { echo "prepare-build: could not point the sdk at $out/sdk" >&2; exit 1; }
cp "$here/go.sum" "$out/go.sum"
echo "-modfile=$out/go.mod"
