#!/bin/sh
# mreg check and the server's hooks, with stock git: a central bare
# repository with `mreg hooks install --server`, reached over file:// and
# over git daemon on 127.0.0.1. A valid promotion is accepted and the hub's
# state follows (post-receive); a tampered, deleted or renamed event, an
# invalid transition, a second promotion of one version to production, a
# force-push and a deleted branch are each refused, with the reason shown to
# the pusher by stock git push and by mreg sync --push, and the hub left as
# it was. mreg check alone: its words, --json, exit codes, default ranges,
# a hook's old/new ids, a bare repository; two branches of promotions merged
# by stock git merge. mreg hooks install/status: --force, core.hooksPath.
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
. "$here/servers.sh"
. "$here/hub.sh"

model_file "$T/a.pt"
model_file "$T/b.pt"
model_file "$T/c.pt"
R=$T/reg
new_registry_full "$R"
check "register sq:1 in staging" "$MREG" -C "$R" register sq "$T/a.pt" --stage staging
check "register sq:2" "$MREG" -C "$R" register sq "$T/b.pt"

# ---- mreg check on its own ---------------------------------------------------------
check "check: the last commit by default (no upstream)" "$MREG" -C "$R" check
expect_eq "check: words for a registration" "$(head -1 "$T/.out" | cut -d' ' -f2-)" "sq:2 registered in development by tester"
expect_eq "check: the summary line" "$(tail -1 "$T/.out")" "main (its last commit): 1 commit, 1 event: valid"
check "check HEAD~1..HEAD --json" "$MREG" -C "$R" check HEAD~1..HEAD --json
expect_eq "check --json: valid, 1 commit, 1 event, no problems" \
	"$(jq -c '[.valid, .commits, .events, (.problems | length), .changes[0].type, .changes[0].version, .changes[0].model]' "$T/.out")" \
	'[true,1,1,0,"version.registered",2,"sq"]'
expect_eq "check --json: base and head are the commits" "$(jq -r '.base + " " + .head' "$T/.out")" \
	"$(git -C "$R" rev-parse HEAD~1) $(git -C "$R" rev-parse HEAD)"
root=$(git -C "$R" rev-list --max-parents=0 HEAD)
check "check the whole history from the root's parentless commit on" "$MREG" -C "$R" check "$root..HEAD" --json
expect_eq "check: two events from the root on" "$(jq -c '[.valid, .events]' "$T/.out")" '[true,2]'
check "check OLD NEW (a hook's ids)" "$MREG" -C "$R" check "$root" "$(git -C "$R" rev-parse HEAD)" --json
expect_eq "check OLD NEW: the same two events" "$(jq -c '[.valid, .events]' "$T/.out")" '[true,2]'
expect_fail "check: three arguments are a usage error" 2 "usage|check takes" "$MREG" -C "$R" check a b c
expect_fail "check: an unknown range" 1 "^mreg: unknown range 'nope\.\.HEAD'" "$MREG" -C "$R" check nope..HEAD
expect_fail "check: an unknown commit" 1 "^mreg: unknown commit 'f00d'" "$MREG" -C "$R" check f00d
bad "check outside a repository" 1 "not a registry|not a git repository" "$R" "$MREG" -C "$T" check

# ---- the hub -------------------------------------------------------------------------
H=$T/hub.git
git clone -q --bare "$R" "$H"
check "hooks install --server" "$MREG" -C "$H" hooks install --server
expect_eq "hooks install: what it did" "$(awk '{print $1 "=" $2}' "$T/.out" | tr '\n' ' ')" "pre-receive=added post-receive=added "
expect_eq "the pre-receive hook is hooks/pre-receive" "$(cmp "$H/hooks/pre-receive" "$here/../../hooks/pre-receive" && echo same)" same
expect_eq "mreg.program names this mreg" "$(git -C "$H" config mreg.program)" "$(readlink -f "$MREG")"
check "hooks status on the hub" "$MREG" -C "$H" hooks status --json
expect_eq "hooks status: server hooks installed, client hooks missing" \
	"$(jq -c '[.bare, (.hooks[] | .name + "=" + .state)]' "$T/.out")" \
	'[true,"post-merge=missing","post-checkout=missing","post-rewrite=missing","pre-receive=installed","post-receive=installed"]'
check "hooks install again: unchanged" "$MREG" -C "$H" hooks install --server --json
expect_eq "hooks install again: each unchanged" "$(jq -c '[.hooks[].action]' "$T/.out")" '["unchanged","unchanged"]'

W=$T/work
git clone -q "$H" "$W"
git -C "$W" config mreg.actor alice
check "a clone: mreg reads it" "$MREG" -C "$W" list

# a valid promotion, pushed by stock git
check "promote sq:1 to production" "$MREG" -C "$W" promote sq:1 --to production -r "passed evaluation"
check "check the branch against its upstream" "$MREG" -C "$W" check
expect_eq "check: the promotion in words" "$(head -1 "$T/.out" | cut -d' ' -f2-)" \
	"sq:1 staging -> production (passed evaluation) by alice"
expect_eq "check: the range is upstream..branch" "$(tail -1 "$T/.out")" "origin/main..main: 1 commit, 1 event: valid"
check "git push of a valid promotion (file://)" git -C "$W" push "file://$H" main
grep -q "remote: .*sq:1 staging -> production (passed evaluation) by alice" "$T/.err" &&
	ok "the pusher sees what the push does" || fail "the pusher sees what the push does"
expect_eq "the hub's branch moved" "$(git -C "$H" rev-parse main)" "$(git -C "$W" rev-parse HEAD)"
expect_eq "post-receive: the hub's state is fresh" "$(jq -r '.tree' "$H/mreg/state/registry.json" 2>/dev/null)" \
	"$(git -C "$H" rev-parse 'main^{tree}')"
check "the hub reads as a registry" "$MREG" -C "$H" show sq:1 --json
expect_eq "the hub: sq:1 in production" "$(jq -r .stage "$T/.out")" production
git -C "$W" fetch -q origin

# each hostile push, by stock git over file://
ev=$(git -C "$W" ls-files events | head -1)
chmod u+w "$W/$ev"
echo '{}' >"$W/$ev"
git -C "$W" commit -qam "tamper"
refused "a tampered event (git push)" "$H" "remote: mreg: commit [0-9a-f]{12}: event [0-9a-f]{32}: changed" \
	git -C "$W" push "file://$H" main
expect_fail "check says the same" 1 "^mreg: commit [0-9a-f]{12}: event [0-9a-f]{32}: changed" sh -c "'$MREG' -C '$W' check >/dev/null"
git -C "$W" reset -q --hard origin/main

git -C "$W" rm -q "$ev"
git -C "$W" commit -qm "delete an event"
refused "a deleted event (git push)" "$H" "remote: mreg: .*deleted \(nothing in a registry is ever deleted\)" \
	git -C "$W" push "file://$H" main
git -C "$W" reset -q --hard origin/main

mkdir -p "$W/events/00/00"
git -C "$W" mv "$ev" "events/00/00/00000000000000000000000000000000.json"
git -C "$W" commit -qm "rename an event"
refused "a renamed event (git push)" "$H" "remote: mreg: .*(deleted|not a valid event)" git -C "$W" push "file://$H" main
git -C "$W" reset -q --hard origin/main

# an invalid transition: a promotion event copied from another branch where the version had moved first
X=$T/x
git clone -q "$H" "$X"
git -C "$X" config mreg.actor mallory
check "x: sq:2 to staging" "$MREG" -C "$X" promote sq:2 --to staging
check "x: sq:2 to production" "$MREG" -C "$X" promote sq:2 --to production
pe=$(git -C "$X" diff --name-only HEAD~1 HEAD -- events)
mkdir -p "$W/$(dirname "$pe")"
cp "$X/$pe" "$W/$pe"
git -C "$W" add "$pe"
git -C "$W" commit -qm "sq:2 to production, without its way through staging"
refused "an invalid transition (git push)" "$H" "remote: mreg: commit [0-9a-f]{12}: event [0-9a-f]{32}: does not apply: cannot promote 'sq:2' to production: it is in development, not staging" \
	git -C "$W" push "file://$H" main
git -C "$W" reset -q --hard origin/main

# the same version promoted to production on two branches: the second no longer applies
Y=$T/y
git clone -q "$H" "$Y"
check "y: sq:2 to staging" "$MREG" -C "$Y" promote sq:2 --to staging
git -C "$Y" push -q origin main 2>/dev/null
git -C "$W" pull -q --no-rebase origin main
git -C "$X" pull -q --no-rebase origin main 2>/dev/null || git -C "$X" reset -q --hard origin/main
check "w: sq:2 to production" "$MREG" -C "$W" promote sq:2 --to production -r first
git -C "$W" checkout -q -b second origin/main
check "w (second branch): sq:2 to production" "$MREG" -C "$W" promote sq:2 --to production -r second
git -C "$W" checkout -q main
git -C "$W" merge -q --no-edit second 2>/dev/null
refused "a second promotion of sq:2 to production (git push)" "$H" \
	"remote: mreg: .*does not apply: cannot promote 'sq:2' to production: it is in production, not staging" \
	git -C "$W" push "file://$H" main
git -C "$W" reset -q --hard origin/main
git -C "$W" branch -q -D second

# an event that comes before an older one in fold order and makes it no longer apply: sq:2 archived
# on a branch from before it went to staging (a lower clock), picked onto the branch
git -C "$W" checkout -q -b old origin/main~2
check "old branch: sq:2 to archived" "$MREG" -C "$W" promote sq:2 --to archived
old=$(git -C "$W" rev-parse HEAD)
git -C "$W" checkout -q main
git -C "$W" cherry-pick "$old" >/dev/null
expect_fail "check: the older event no longer applies" 1 \
	"^mreg: commit [0-9a-f]{12}: event [0-9a-f]{32}: an earlier event no longer applies after the range: cannot promote 'sq:2' to staging: it is in archived, not development" \
	sh -c "'$MREG' -C '$W' check origin/main..HEAD >/dev/null"
refused "an event that undoes an older one (git push)" "$H" "remote: mreg: .*an earlier event no longer applies after the range" \
	git -C "$W" push "file://$H" main
git -C "$W" reset -q --hard origin/main
git -C "$W" branch -q -D old

# a force-push and a deleted branch
git -C "$W" reset -q --hard origin/main~1
refused "a force-push (git push -f)" "$H" "remote: mreg: refusing a non-fast-forward update of 'refs/heads/main'" \
	git -C "$W" push -f "file://$H" main
refused "a deleted registry branch (git push :main)" "$H" "remote: mreg: refusing to delete the registry branch 'refs/heads/main'" \
	git -C "$W" push "file://$H" :main
git -C "$W" reset -q --hard origin/main

# feature branches for pull requests: anything valid, rewritten and deleted at will; hostile ones refused too
git -C "$W" checkout -q -b promote-sq2
check "feature branch: sq:2 to production" "$MREG" -C "$W" promote sq:2 --to production -r "via pull request"
check "push a feature branch" git -C "$W" push "file://$H" promote-sq2
check "check the pull request as CI does (origin/main..HEAD)" "$MREG" -C "$W" check origin/main..HEAD
git -C "$W" commit -q --amend -m "reworded"
check "a feature branch may be force-pushed" git -C "$W" push -f "file://$H" promote-sq2
check "a feature branch may be deleted" git -C "$W" push "file://$H" :promote-sq2
echo junk >"$W/notes.txt"
git -C "$W" add notes.txt
git -C "$W" commit -qm "a file outside the layout"
refused "a feature branch with a file outside the layout" "$H" "remote: mreg: .*'notes.txt': a file outside the registry's layout" \
	git -C "$W" push "file://$H" HEAD:refs/heads/junk
git -C "$W" checkout -q main

# ---- the same hub over git daemon, pushed by mreg sync --push -------------------------
serve_git_daemon "$T" && ok "git daemon listens"
U=${GIT_DAEMON_URL:-git://127.0.0.1:1/}hub.git
N=$T/node
check "mreg clone over git daemon" "$MREG" clone "$U" "$N"
git -C "$N" config mreg.actor bob && full_checkout "$N"
check "node: register sq:3" "$MREG" -C "$N" register sq "$T/c.pt"
check "mreg sync --push of a valid registration (git daemon)" "$MREG" -C "$N" sync --push --no-backup
expect_eq "the hub has the node's commit" "$(git -C "$H" rev-parse main)" "$(git -C "$N" rev-parse HEAD)"
check "stock git push over git daemon, a valid promotion" sh -c "'$MREG' -C '$W' sync --no-backup >/dev/null && '$MREG' -C '$W' promote sq:3 --to staging && git -C '$W' push '$U' main"
grep -q "remote: .*sq:3 development -> staging by alice" "$T/.err" && ok "git daemon: the pusher sees the words" ||
	fail "git daemon: the pusher sees the words"
check "node: sync" "$MREG" -C "$N" sync --no-backup
pe2=$(git -C "$N" log -1 --format=%H -- events)
nev=$(git -C "$N" ls-files events | head -1)
chmod u+w "$N/$nev"
printf '{"x":1}' >"$N/$nev"
git -C "$N" commit -qam "tamper on a node"
refused "a tampered event (git push over git daemon)" "$H" "remote: mreg: .*changed \(events and model files never change\)" \
	git -C "$N" push "$U" main
refused "a tampered event (mreg sync --push over git daemon)" "$H" "refused the push of refs/heads/main: pre-receive hook declined: commit [0-9a-f]{12}: event [0-9a-f]{32}: changed" \
	"$MREG" -C "$N" sync --push --no-backup
git -C "$N" reset -q --hard "$pe2"

# ---- two branches of promotions merged by stock git merge ------------------------------
M=$T/merge
git clone -q "$H" "$M"
git -C "$M" config mreg.actor carol
check "merge: register other:1" "$MREG" -C "$M" register other "$T/a.pt" --stage staging
git -C "$M" push -q origin main 2>/dev/null
git -C "$M" checkout -q -b left
check "left: sq:3 to production" "$MREG" -C "$M" promote sq:3 --to production
git -C "$M" checkout -q -b right main
check "right: other:1 to production" "$MREG" -C "$M" promote other:1 --to production
git -C "$M" checkout -q main
check "stock git merge of left" git -C "$M" merge -q --no-edit left
check "stock git merge of right: no conflicts" git -C "$M" merge -q --no-edit right
expect_eq "the merge: two parents" "$(git -C "$M" rev-list --parents -1 HEAD | wc -w)" 3
check "check passes on the merged range" "$MREG" -C "$M" check origin/main..HEAD --json
expect_eq "check: both promotions, valid" "$(jq -c '[.valid, .events, ([.changes[].words] | sort)]' "$T/.out")" \
	'[true,2,["other:1 staging -> production by carol","sq:3 staging -> production by carol"]]'
check "after the merge: refresh" "$MREG" -C "$M" refresh
check "after the merge: sq:3" "$MREG" -C "$M" show sq:3 --json
expect_eq "after the merge: sq:3 in production" "$(jq -r .stage "$T/.out")" production
check "after the merge: other:1" "$MREG" -C "$M" show other:1 --json
expect_eq "after the merge: other:1 in production" "$(jq -r .stage "$T/.out")" production
check "the merge pushed" git -C "$M" push origin main
check "check in the bare hub itself, on its last commit" "$MREG" -C "$H" check --json
expect_eq "the hub's check: valid" "$(jq -r .valid "$T/.out")" true

# ---- hooks in a work tree: install, status, --force, core.hooksPath ---------------------
check "hooks install in a clone" "$MREG" -C "$M" hooks install
expect_eq "client hooks added" "$(awk '{print $1 "=" $2}' "$T/.out" | tr '\n' ' ')" "post-merge=added post-checkout=added post-rewrite=added "
echo '#!/bin/sh' >"$M/.git/hooks/post-merge"
bad "hooks install refuses a different hook" 1 "a different 'post-merge' hook is installed: '.*post-merge' \(--force replaces it\)" \
	"$M" "$MREG" -C "$M" hooks install
expect_eq "the other hook is kept" "$(cat "$M/.git/hooks/post-merge")" '#!/bin/sh'
check "hooks status" "$MREG" -C "$M" hooks status
expect_eq "hooks status: post-merge is different" "$(grep '^post-merge' "$T/.out" | tr -s ' ')" "post-merge different"
check "hooks install --force" "$MREG" -C "$M" hooks install --force
expect_eq "--force replaced post-merge only" "$(awk '{print $1 "=" $2}' "$T/.out" | tr '\n' ' ')" "post-merge=replaced post-checkout=unchanged post-rewrite=unchanged "
git -C "$M" config core.hooksPath githooks
check "hooks install into core.hooksPath" "$MREG" -C "$M" hooks install
expect_eq "core.hooksPath: the hooks are there" "$(ls "$M/githooks" | tr '\n' ' ')" "post-checkout post-merge post-rewrite "
rm -rf "$M/githooks"
git -C "$M" config --unset core.hooksPath
expect_fail "hooks: a subcommand is needed" 2 "hooks needs install or status" "$MREG" -C "$M" hooks
expect_fail "hooks status --force is a usage error" 2 "go with hooks install" "$MREG" -C "$M" hooks status --force
# the post-merge hook keeps state/ current after a plain git pull
git -C "$M" pull -q --no-rebase origin main 2>/dev/null
finish
