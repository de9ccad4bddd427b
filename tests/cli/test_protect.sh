#!/bin/sh
# Protected stages: mreg.json's "protect" names, per stage, an allowed
# signers file (git's gpg.ssh.allowedSignersFile format) under .mreg/.
# mreg promote signs its commit with the user's ssh key as git commit -S
# does (stock git verify-commit accepts it) and refuses without one; mreg
# check and the hub's pre-receive hook refuse an unsigned or wrongly signed
# promotion into a protected stage, and a change to the signers or to the
# protect section not signed by a signer as of the parent (so nobody adds
# themselves and promotes in one push); a commit signed by stock git
# commit -S with an allowed key passes. Unprotected stages stay as they were.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
command -v ssh-keygen >/dev/null || { fail "ssh-keygen is not installed (sh .ci/deps installs it)"; finish; }
. "$here/hub.sh"

# sign_as DIR KEY: git and mreg in DIR sign with KEY
sign_as() {
	git -C "$1" config gpg.format ssh
	git -C "$1" config user.signingkey "$2"
}

for k in alice bob; do ssh-keygen -q -t ed25519 -N "" -C "$k" -f "$T/$k"; done
model_file "$T/a.pt"
model_file "$T/b.pt"
model_file "$T/c.pt"

R=$T/reg
new_registry_full "$R"
check "register sq:1 in staging" "$MREG" -C "$R" register sq "$T/a.pt" --stage staging
check "register sq:2 in staging" "$MREG" -C "$R" register sq "$T/b.pt" --stage staging
check "register sq:3" "$MREG" -C "$R" register sq "$T/c.pt"
mkdir "$R/.mreg"
echo "alice@example.com $(cat "$T/alice.pub")" >"$R/.mreg/allowed_signers"
jq '. + {protect: {production: {signers: ".mreg/allowed_signers"}}}' "$R/mreg.json" >"$T/m.json" && cp "$T/m.json" "$R/mreg.json"
git -C "$R" add mreg.json .mreg
git -C "$R" commit -qm "protect production: alice signs"
check "a registry with a protect section reads" "$MREG" -C "$R" status
check "check: the policy commit (a root of policy: nothing protected before it)" "$MREG" -C "$R" check --json
expect_eq "check: the policy files changed, unsigned is fine before protection" \
	"$(jq -c '[.valid, [.policy_changes[].path]]' "$T/.out")" '[true,[".mreg/allowed_signers","mreg.json"]]'

# a bad protect section is refused, naming the key
cp "$R/mreg.json" "$T/good.json"
jq '.protect.prod = {signers: ".mreg/allowed_signers"}' "$T/good.json" >"$R/mreg.json"
git -C "$R" commit -qam "protect an unknown stage"
expect_fail "promote with an unknown stage in protect" 1 "invalid mreg.json in '.*': unknown stage 'protect.prod'" \
	"$MREG" -C "$R" promote sq:1 --to production
jq '.protect.production.signers = "../etc/passwd"' "$T/good.json" >"$R/mreg.json"
git -C "$R" commit -qam "signers outside .mreg"
expect_fail "promote with signers outside .mreg/" 1 "invalid mreg.json in '.*': 'protect.production'.signers must name a file under .mreg/" \
	"$MREG" -C "$R" promote sq:1 --to production
git -C "$R" reset -q --hard HEAD~2

H=$T/hub.git
git clone -q --bare "$R" "$H"
check "hooks install --server" "$MREG" -C "$H" hooks install --server
W=$T/work
git clone -q "$H" "$W"
git -C "$W" config mreg.actor alice
check "the clone's state folded" "$MREG" -C "$W" status

# mreg promote into a protected stage: refused without a key, signed with one
bad "promote to production without a signing key" 1 \
	"^mreg: 'production' is a protected stage: its commits must be signed, and no ssh signing key is configured" \
	"$W" "$MREG" -C "$W" promote sq:1 --to production
check "an unprotected stage needs no key" "$MREG" -C "$W" promote sq:3 --to staging
sign_as "$W" "$T/bob"
bad "promote signed with a key not among the signers" 1 \
	"^mreg: cannot sign for protected stage 'production': its key is not among the allowed signers in '.mreg/allowed_signers'" \
	"$W" "$MREG" -C "$W" promote sq:1 --to production
sign_as "$W" "$T/alice"
check "promote signed by alice" "$MREG" -C "$W" promote sq:1 --to production -r "passed evaluation"
check "stock git verify-commit accepts mreg's signature" \
	git -C "$W" -c gpg.ssh.allowedSignersFile="$W/.mreg/allowed_signers" verify-commit HEAD
grep -q 'Good "git" signature for alice@example.com' "$T/.err" && ok "verify-commit: good signature for alice" ||
	fail "verify-commit: good signature for alice"
check "git log --show-signature shows it" git -C "$W" -c gpg.ssh.allowedSignersFile="$W/.mreg/allowed_signers" log -1 --show-signature
grep -q 'Good "git" signature' "$T/.out" && ok "log --show-signature: good" || fail "log --show-signature: good"
expect_eq "git status clean after a signed write" "$(tree_clean "$W")" ""
check "check: signed by alice" "$MREG" -C "$W" check
expect_eq "check: the words say who signed" "$(grep production "$T/.out" | cut -d' ' -f2-)" \
	"sq:1 staging -> production (passed evaluation) by alice [signed by alice@example.com]"
git -C "$W" config gpg.ssh.program "$T/no/ssh-keygen"
expect_fail "check without ssh-keygen says so, not that the signature is bad" 1 \
	"^mreg: cannot make or check ssh signatures: '$T/no/ssh-keygen' is not installed \(Debian: openssh-client\)" \
	"$MREG" -C "$W" check
git -C "$W" config --unset gpg.ssh.program
check "push the signed promotion" git -C "$W" push origin main
expect_eq "the hub took it" "$(git -C "$H" rev-parse main)" "$(git -C "$W" rev-parse HEAD)"

# an unsigned promotion made elsewhere, committed by hand: refused by check and by the hub
X=$T/x
git clone -q "$H" "$X"
git -C "$X" checkout -q -b unprotected "$(git -C "$X" log --format=%H -1 --grep 'protect production' main)~1"
git -C "$X" config mreg.actor mallory
check "x, before production was protected: sq:2 to production" "$MREG" -C "$X" promote sq:2 --to production
pe=$(git -C "$X" diff --name-only HEAD~1 HEAD -- events)
git -C "$W" fetch -q origin
# that event, committed by hand where production is protected
mkdir -p "$W/$(dirname "$pe")"
cp "$X/$pe" "$W/$pe"
git -C "$W" add "$pe"
git -C "$W" commit -q --no-gpg-sign -m "unsigned promotion"
expect_fail "check refuses an unsigned promotion into production" 1 \
	"^mreg: commit [0-9a-f]{12}: event [0-9a-f]{32}: moving a version into protected stage 'production' needs a commit signed by an allowed signer of '.mreg/allowed_signers' as of its parent: it is not signed" \
	sh -c "'$MREG' -C '$W' check >/dev/null"
refused "an unsigned promotion into production (git push)" "$H" "remote: mreg: .*protected stage 'production' .*it is not signed" \
	git -C "$W" push origin main
# a peer syncing straight from that clone, no hub between them, refuses it too
P=$T/peer
check "a peer joins from the hub" "$MREG" clone "$H" "$P"
check "the peer adds the clone as a remote" "$MREG" -C "$P" remote add w "$W"
before=$(snapshot "$P" 2>&1)
"$MREG" -C "$P" sync --no-backup w >"$T/sync.out" 2>&1
expect_eq "mreg sync refuses an unsigned promotion into production from a peer: exit 1" "$?" 1
grep -qE "^w: failed: cannot sync 'w': commit [0-9a-f]{12}: event [0-9a-f]{32}: moving a version into protected stage 'production' needs a commit signed .*: it is not signed; nothing was changed" "$T/sync.out" &&
	ok "mreg sync says why" || { fail "mreg sync says why"; sed 's/^/    # /' "$T/sync.out"; }
expect_eq "mreg sync: the peer is as it was" "$(snapshot "$P" 2>&1)" "$before"
"$MREG" -C "$W" sync --push --no-backup origin >"$T/sync.out" 2>&1
expect_eq "mreg sync --push of an unsigned promotion: exit 1" "$?" 1
grep -qE "^origin: failed: 'origin' refused the push of refs/heads/main: .*pre-receive hook declined.*: commit [0-9a-f]{12}: event [0-9a-f]{32}: moving a version into protected stage 'production' .*it is not signed" "$T/sync.out" &&
	ok "mreg sync --push shows the hook's reason" || { fail "mreg sync --push shows the hook's reason"; sed 's/^/    # /' "$T/sync.out"; }
git -C "$W" commit -q --amend -S"$T/bob" -m "promotion signed by bob"
refused "a promotion signed by a key not allowed (git push)" "$H" "remote: mreg: .*its key is not among the allowed signers" \
	git -C "$W" push origin main
git -C "$W" commit -q --amend -S"$T/alice" -m "promotion signed by alice with stock git"
check "check accepts a commit signed by stock git commit -S with an allowed key" "$MREG" -C "$W" check --json
expect_eq "check: signed_by alice@example.com" "$(jq -r '.changes[-1].signed_by' "$T/.out")" alice@example.com
git -C "$W" reset -q --hard origin/main

# the same promotion on a branch from before production was protected, merged by stock git
git -C "$W" fetch -q "$X" unprotected:unprotected
git -C "$W" merge -q --no-edit unprotected
expect_fail "check refuses a promotion from a branch older than the protection" 1 \
	"^mreg: commit [0-9a-f]{12}: event [0-9a-f]{32}: moving a version into protected stage 'production' needs a commit signed by an allowed signer of '.mreg/allowed_signers' as of its base: it is not signed" \
	sh -c "'$MREG' -C '$W' check >/dev/null"
refused "a merged branch from before the protection (git push)" "$H" "remote: mreg: .*protected stage 'production'.* as of its base: it is not signed" \
	git -C "$W" push origin main
git -C "$W" reset -q --hard origin/main
git -C "$W" branch -q -D unprotected

# the signers file and the protect section are themselves protected
echo "bob@example.com $(cat "$T/bob.pub")" >>"$W/.mreg/allowed_signers"
git -C "$W" commit -q --no-gpg-sign -am "bob adds himself"
refused "an unsigned change to the signers" "$H" "remote: mreg: commit [0-9a-f]{12}: '.mreg/allowed_signers': a change to a signers file needs a commit signed" \
	git -C "$W" push origin main
git -C "$W" commit -q --amend -S"$T/bob" -m "bob adds himself, signed by bob"
refused "bob adds himself and signs with the key he adds" "$H" "remote: mreg: .*allowed_signers.*its key is not among the allowed signers" \
	git -C "$W" push origin main
git -C "$W" reset -q --hard origin/main
jq 'del(.protect)' "$W/mreg.json" >"$T/m.json" && cp "$T/m.json" "$W/mreg.json"
git -C "$W" commit -q --no-gpg-sign -am "drop protection"
refused "an unsigned change to the protect section" "$H" "remote: mreg: commit [0-9a-f]{12}: 'mreg.json': a change to the protect section needs a commit signed" \
	git -C "$W" push origin main
git -C "$W" reset -q --hard origin/main
echo "bob@example.com $(cat "$T/bob.pub")" >>"$W/.mreg/allowed_signers"
git -C "$W" commit -q -S"$T/alice" -am "alice adds bob"
check "alice adds bob, signed by alice: accepted" git -C "$W" push origin main
B=$T/bobs
git clone -q "$H" "$B"
git -C "$B" config mreg.actor bob
sign_as "$B" "$T/bob"
check "bob, now a signer: archive sq:1 (an unprotected stage)" "$MREG" -C "$B" archive sq:1
check "bob: promote sq:2 to production, signed" "$MREG" -C "$B" promote sq:2 --to production
check "bob's promotion pushed" git -C "$B" push origin main
check "bob: a rollback into production, signed too" "$MREG" -C "$B" rollback sq --to 1 -r "regression"
check "stock git verify-commit accepts the rollback's signature" \
	git -C "$B" -c gpg.ssh.allowedSignersFile="$B/.mreg/allowed_signers" verify-commit HEAD
git -C "$B" config --unset user.signingkey
bad "a rollback into production without a key is refused" 1 "^mreg: 'production' is a protected stage" \
	"$B" "$MREG" -C "$B" rollback sq --to 2 -r "back again"
sign_as "$B" "$T/bob"
check "the rollback pushed" git -C "$B" push origin main
check "the hub's check on its last commit" "$MREG" -C "$H" check --json
expect_eq "the hub's last commit: the rollback, signed by bob" "$(jq -r '.changes[0] | .type + " " + .signed_by' "$T/.out")" \
	"rollback bob@example.com"
finish
