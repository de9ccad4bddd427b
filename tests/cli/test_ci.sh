#!/bin/sh
# deploy/ci: the GitHub workflows and the GitLab CI file that check and make
# promotions through pull requests are YAML of the shape each service reads
# (parsed with PyYAML), and every mreg command their shell text runs is one
# this mreg has: the command in `mreg help`, a subcommand, every option in
# `mreg help COMMAND`. A renamed command or option fails here, not in a
# registry's CI. The shell text is parsed by shfmt, so a call inside $(...),
# after a pipe or across a continuation is found, and a here-document is not
# taken for a command. Each workflow's apt-get install gives every library
# the Makefile links.
. "$(dirname "$0")/lib.sh"
D=$TESTDATA/../deploy/ci	# lib.sh has moved into a temporary directory
[ -d "$D" ] || { fail "no deploy/ci beside testdata/"; finish; }
PY=/usr/bin/python3
if ! "$PY" -c 'import yaml' 2>/dev/null; then
	fail "$PY cannot import yaml (Debian package python3-yaml; sh .ci/deps installs it)"; finish
fi
command -v shfmt >/dev/null || { fail "shfmt is not installed (Debian package shfmt; sh .ci/deps installs it)"; finish; }

cat >"$T/ci_check.py" <<'EOF'
"""Checks of mreg's CI files (tests/cli/test_ci.sh).

  ci_check.py structure KIND FILE    KIND: github-promote, github-check, gitlab
  ci_check.py calls FILE...          every call of mreg in the shell text, one a line
  ci_check.py commands MREG FILE...  every call of mreg against MREG's help
  ci_check.py packages FILE...       the packages of every apt-get install, one call a line

Prints "ok - ..." and "not ok - ..." lines; exits 1 when one is "not ok".
"""
import json
import os
import re
import subprocess
import sys

import yaml

results = []


def ok(cond, desc, why=""):
    results.append((bool(cond), desc if cond or not why else f"{desc}: {why}"))
    return cond


def flatten(x):
    if isinstance(x, list):
        return [s for item in x for s in flatten(item)]
    return [x]


def is_github(doc):
    return "jobs" in doc and ("on" in doc or True in doc)


def shell_blocks(doc):
    """(where, text) of each run: step (GitHub) or script list (GitLab, templates too)."""
    if is_github(doc):
        for jname, job in doc["jobs"].items():
            for i, step in enumerate(job.get("steps") or []):
                if "run" in step:
                    yield f"jobs.{jname}.steps[{i}]", step["run"]
        return
    for jname, job in doc.items():
        if isinstance(job, dict):
            for key in ("before_script", "script", "after_script"):
                if key in job:
                    yield f"{jname}.{key}", "\n".join(flatten(job[key]))


def parse_shell(text):
    """shfmt's syntax tree of bash text, or an exception naming the error."""
    p = subprocess.run(["shfmt", "-ln", "bash", "--to-json"], input=text.encode(),
                       capture_output=True)
    if p.returncode != 0:
        raise ValueError(p.stderr.decode().strip())
    return json.loads(p.stdout)


def literal(word):
    """A word's value when it has no expansion, else None."""
    out = ""
    for part in word.get("Parts", []):
        if part["Type"] in ("Lit", "SglQuoted"):
            out += part["Value"]
        elif part["Type"] == "DblQuoted":
            for q in part.get("Parts", []):
                if q["Type"] != "Lit":
                    return None
                out += q["Value"]
        else:
            return None
    return out


def simple_commands(node):
    """The arguments of every simple command in a tree, $(...) included."""
    if isinstance(node, dict):
        if node.get("Type") == "CallExpr" and node.get("Args"):
            yield node["Args"]
        for v in node.values():
            yield from simple_commands(v)
    elif isinstance(node, list):
        for v in node:
            yield from simple_commands(v)


WRAPPERS = {"env", "exec", "command", "nice", "sudo"}


def calls(path):
    """(where, [(literal, source text)...]) of every command of the file's shell
    text, wrappers (env A=1, exec, ...) taken off; problems as results."""
    with open(path) as f:
        doc = yaml.safe_load(f)
    name = os.path.basename(path)
    for where, text in shell_blocks(doc):
        raw = text.encode()
        try:
            tree = parse_shell(text)
        except ValueError as e:
            ok(False, f"{name} {where}: the shell text parses", str(e))
            continue
        for args in simple_commands(tree):
            words = [(literal(w), raw[w["Pos"]["Offset"]:w["End"]["Offset"]].decode()) for w in args]
            while words and words[0][0] in WRAPPERS:
                words = words[1:]
                while words and words[0][0] and re.match(r"^(-|[A-Za-z_]\w*=)", words[0][0]):
                    words = words[1:]
            if words:
                yield name, where, words


def mreg_calls(path):
    for name, where, words in calls(path):
        prog = words[0][0]
        if prog and os.path.basename(prog) == "mreg":
            yield name, where, words


def has_word(word, text):
    return re.search(r"(?<![\w-])" + re.escape(word) + r"(?![\w-])", text) is not None


class Help:
    """What `mreg help` and `mreg help COMMAND` say."""

    def __init__(self, mreg):
        self.mreg = mreg
        rc, top = self.run()
        if rc != 0 or "\ncommands:\n" not in top:
            print(f"not ok - {mreg} help: exit {rc}, no commands: section")
            sys.exit(1)
        section = top.split("\ncommands:\n", 1)[1].split("\n\n", 1)[0]
        self.commands = set(re.findall(r"^  ([a-z][a-z-]*) ", section, re.M))
        self.top_usage = top.splitlines()[0]
        self.global_valued = set(re.findall(r"(-{1,2}[A-Za-z][\w-]*) [A-Z]+", self.top_usage))
        self.cache = {}

    def run(self, *args):
        p = subprocess.run([self.mreg, "help", *args], capture_output=True, text=True)
        return p.returncode, p.stdout + p.stderr

    def command(self, cmd):
        if cmd not in self.cache:
            rc, text = self.run(cmd)
            usage = text.split("\n\n", 1)[0]
            valued = set(self.global_valued)
            for m in re.finditer(r"^\s+(?:(-\w), )?(--[\w-]+)\s+([A-Z][A-Z_]*)\b", text, re.M):
                valued.update(o for o in m.groups()[:2] if o)
            first = re.match(r"usage: mreg \S+ (\S+)", usage)
            needs_sub = bool(first and re.fullmatch(r"[a-z][a-z-]*(\|[a-z][a-z-]*)*", first[1]))
            self.cache[cmd] = (rc, text, usage, valued, needs_sub)
        return self.cache[cmd]


def check_call(help, name, where, words):
    """One call of mreg: global options, the command, its subcommand, its options."""
    shown = " ".join(" ".join(src.split()) for _, src in words)
    args, problems, i = words[1:], [], 0
    while i < len(args) and args[i][0] and args[i][0].startswith("-"):
        opt = args[i][0].split("=", 1)[0]
        if not has_word(opt, help.top_usage):
            problems.append(f"'{opt}' is not a global option in mreg help")
        i += 2 if opt in help.global_valued and "=" not in args[i][0] else 1
    cmd = args[i][0] if i < len(args) else ""
    said = ""
    if i >= len(args):
        problems.append("no command")
    elif cmd is None:
        problems.append(f"the command {args[i][1]} is not a literal word")
    elif cmd not in help.commands:
        problems.append(f"'{cmd}' is not a command in mreg help")
    else:
        rc, text, usage, valued, needs_sub = help.command(cmd)
        if rc != 0:
            problems.append(f"mreg help {cmd} exits {rc}")
        positional, options, rest, j = [], [], args[i + 1:], 0
        while j < len(rest):
            lit = rest[j][0]
            if lit == "--":
                positional += rest[j + 1:]
                break
            if lit and len(lit) > 1 and lit.startswith("-"):
                opt = lit.split("=", 1)[0] if lit.startswith("--") else lit[:2]
                options.append(opt)
                if not has_word(opt, text):
                    problems.append(f"'{opt}' is not an option in mreg help {cmd}")
                if opt in valued and lit == opt:
                    j += 1
            else:
                positional.append(rest[j])
            j += 1
        said = f"mreg {cmd}"
        if needs_sub:
            if not positional:
                problems.append(f"mreg {cmd} needs a subcommand")
            elif positional[0][0] is None:
                problems.append(f"the subcommand {positional[0][1]} is not a literal word")
            elif not has_word(positional[0][0], usage):
                problems.append(f"'{positional[0][0]}' is not a subcommand in mreg help {cmd}")
            else:
                said += f" {positional[0][0]}"
        if options:
            said += " (" + " ".join(options) + ")"
    if problems:
        ok(False, f"{name} {where}: {shown}", "; ".join(problems))
    else:
        ok(True, f"{name} {where}: {said} is in mreg help")


# --- structure of each kind of file ------------------------------------------

def github_common(doc, name):
    keys = [k for k in ("on", True) if k in doc]
    ok(len(keys) == 1, f"{name}: one 'on' section (PyYAML reads the bare key on as true)")
    jobs = doc.get("jobs")
    ok(isinstance(jobs, dict) and jobs, f"{name}: has jobs")
    runs, envs, checkout = [], [], []
    for jname, job in (jobs or {}).items():
        ok("runs-on" in job, f"{name}: job {jname} has runs-on")
        steps = job.get("steps")
        ok(isinstance(steps, list) and steps, f"{name}: job {jname} has steps")
        envs.append(job.get("env") or {})
        for i, step in enumerate(steps or []):
            ok(("run" in step) != ("uses" in step), f"{name}: {jname} step {i} has run or uses")
            envs.append(step.get("env") or {})
            if "run" in step:
                runs.append(step["run"])
            if str(step.get("uses", "")).startswith("actions/checkout@"):
                checkout.append(step.get("with") or {})
    ok(checkout and all(w.get("fetch-depth") == 0 for w in checkout),
       f"{name}: actions/checkout with fetch-depth 0 (the whole history)")
    bad = [r.splitlines()[0] for r in runs if "${{" in r]
    ok(not bad, f"{name}: no ${{{{ }}}} expression inside a run script (inputs come through env)",
       f"found in: {bad}")
    env_values = " ".join(str(v) for e in envs for v in e.values())
    return (doc.get(keys[0]) if keys else None) or {}, jobs or {}, env_values


def structure_github_promote(doc, name):
    on, jobs, env_values = github_common(doc, name)
    inputs = (on.get("workflow_dispatch") or {}).get("inputs") or {}
    ok(set(inputs) == {"model", "version", "stage", "reason"},
       f"{name}: workflow_dispatch inputs model, version, stage, reason", f"got {sorted(inputs)}")
    ok(all(v.get("required") is True for v in inputs.values()), f"{name}: every input is required")
    for i in inputs:
        ok(f"inputs.{i}" in env_values, f"{name}: input {i} reaches the shell through env")
    ok(doc.get("permissions") == {"contents": "write", "pull-requests": "write"},
       f"{name}: permissions contents and pull-requests: write", f"got {doc.get('permissions')}")
    ok("secrets.MREG_SIGNING_KEY" in env_values, f"{name}: the signing key comes from the secret MREG_SIGNING_KEY")


def structure_github_check(doc, name):
    on, jobs, env_values = github_common(doc, name)
    paths = (on.get("pull_request") or {}).get("paths") or []
    want = ["events/**", "artifacts/**", "mreg.json", ".mreg/**", ".gitattributes"]
    ok(sorted(paths) == sorted(want), f"{name}: pull_request on the registry's paths", f"got {paths}")
    ok(jobs.get("mreg-check", {}).get("name") == "mreg-check",
       f"{name}: a job mreg-check named mreg-check (the required status check)")
    ok(doc.get("permissions") == {"contents": "read"}, f"{name}: permissions contents: read")
    ok("github.base_ref" in env_values, f"{name}: the base branch comes from github.base_ref through env")


def structure_gitlab(doc, name):
    tmpl = doc.get(".mreg-install") or {}
    ok(tmpl.get("image") == "debian:12", f"{name}: .mreg-install runs on debian:12")
    bs = tmpl.get("before_script")
    ok(isinstance(bs, list) and bs and all(isinstance(s, str) for s in bs),
       f"{name}: .mreg-install has a before_script list")
    for job in ("mreg-check", "mreg-promote"):
        j = doc.get(job) or {}
        ok(j.get("extends") == ".mreg-install", f"{name}: {job} extends .mreg-install")
        s = j.get("script")
        ok(isinstance(s, list) and s and all(isinstance(x, str) for x in s), f"{name}: {job} has a script list")
        ok(isinstance(j.get("rules"), list) and j["rules"], f"{name}: {job} has rules")
    rules = (doc.get("mreg-check") or {}).get("rules") or [{}]
    ok('$CI_PIPELINE_SOURCE == "merge_request_event"' in str(rules[0].get("if")),
       f"{name}: mreg-check runs on merge request pipelines")
    changes = rules[0].get("changes") or []
    for p in ("events/", "artifacts/", "mreg.json", ".mreg/", ".gitattributes"):
        ok(any(c.startswith(p) for c in changes), f"{name}: mreg-check on changes of {p}")
    cond = str(((doc.get("mreg-promote") or {}).get("rules") or [{}])[0].get("if"))
    for part in ('$CI_PIPELINE_SOURCE == "web"', '$CI_PIPELINE_SOURCE == "api"', "$MREG_MODEL"):
        ok(part in cond, f"{name}: mreg-promote's rule has {part}", cond)
    for v in ("MREG_MODEL", "MREG_VERSION", "MREG_STAGE", "MREG_REASON"):
        ok(v in (doc.get("variables") or {}), f"{name}: variable {v} in the Run pipeline form")


def structure(kind, path):
    with open(path) as f:
        doc = yaml.safe_load(f)
    name = os.path.basename(path)
    if not ok(isinstance(doc, dict), f"{name}: a YAML mapping"):
        return
    {"github-promote": structure_github_promote, "github-check": structure_github_check,
     "gitlab": structure_gitlab}[kind](doc, name)
    # what the shell text does besides mreg
    seen = set()
    for _, _, words in calls(path):
        seen.add(" ".join(w[0] or "?" for w in words[:3]))
        seen.update(w[0] for w in words if w[0] and w[0].startswith("merge_request."))
    want = {"github-promote": ["git push origin", "gh pr create"], "github-check": [],
            "gitlab": ["git push -o", "merge_request.create"]}[kind]
    for w in want:
        ok(any(s.startswith(w) for s in seen), f"{name}: the shell text runs {w}")


def main(argv):
    if argv[1] == "structure":
        structure(argv[2], argv[3])
    elif argv[1] == "calls":
        for path in argv[2:]:
            for name, where, words in mreg_calls(path):
                print(f"{name} {where}: " + " ".join(" ".join(src.split()) for _, src in words))
    elif argv[1] == "packages":
        for path in argv[2:]:
            for name, where, words in calls(path):
                lits = [w for w, _ in words]
                if lits[:2] == ["apt-get", "install"]:
                    print(name + " " + " ".join(w for w in lits[2:] if w and not w.startswith("-")))
    elif argv[1] == "commands":
        help = Help(argv[2])
        for path in argv[3:]:
            for name, where, words in mreg_calls(path):
                check_call(help, name, where, words)
    for good, desc in results:
        print(("ok - " if good else "not ok - ") + desc)
    return 0 if all(good for good, _ in results) else 1


sys.exit(main(sys.argv))
EOF

# checker ARGS...: run the checker, its ok / not ok lines as this script's
# own; a checker that fails without saying why (a traceback) or says nothing
# is a failure too
checker() {
	"$PY" "$T/ci_check.py" "$@" >"$T/c.out" 2>"$T/c.err"
	rc=$?
	while IFS= read -r line; do
		case $line in
		"ok - "*) ok "${line#ok - }" ;;
		"not ok - "*) fail "${line#not ok - }" ;;
		*) fail "unexpected output: $line" ;;
		esac
	done <"$T/c.out"
	if [ ! -s "$T/c.out" ] || { [ "$rc" -ne 0 ] && ! grep -q '^not ok' "$T/c.out"; }; then
		fail "ci_check.py $1: exit $rc with no 'not ok' line"; sed 's/^/    # /' "$T/c.err" | tail -5
	fi
}

P=$D/github/mreg-promote.yml C=$D/github/mreg-check.yml G=$D/gitlab/mreg.gitlab-ci.yml
checker structure github-promote "$P"
checker structure github-check "$C"
checker structure gitlab "$G"

# the calls the files make, so that the check below cannot pass by finding none
"$PY" "$T/ci_check.py" calls "$P" "$C" "$G" >"$T/calls"
n() { grep -c "$1" "$T/calls"; }
expect_eq "mreg-promote.yml promotes and checks" \
	"$(n '^mreg-promote.yml .*: mreg -C \. promote "\$MREG_MODEL" -v "\$MREG_VERSION" --to "\$MREG_STAGE" -r "\$MREG_REASON"$') $(n '^mreg-promote.yml .*: mreg -C \. check ')" "1 1"
expect_eq "mreg-check.yml checks, as text and as JSON" \
	"$(n '^mreg-check.yml .*: mreg -C \. check "origin/${BASE_REF}..HEAD"$') $(n '^mreg-check.yml .*: mreg -C \. check .* --json$')" "1 1"
expect_eq "mreg.gitlab-ci.yml promotes and checks in mreg-check and in mreg-promote" \
	"$(n '^mreg.gitlab-ci.yml mreg-promote.script: mreg -C \. promote ') $(n '^mreg.gitlab-ci.yml mreg-check.script: mreg -C \. check ') $(n '^mreg.gitlab-ci.yml mreg-promote.script: mreg -C \. check ')" "1 1 1"

# every one of them against this mreg's help
checker commands "$MREG" "$P" "$C" "$G"

# The checker itself. Calls found where the shell has them, and nowhere else:
# not in an argument (make -C mreg), a comment or a here-document.
cat >"$T/shapes.yml" <<'EOF'
on: push
jobs:
  j:
    runs-on: ubuntu-latest
    steps:
      - run: |
          make -C mreg && cd mreg   # mreg list: a comment
          out=$(mreg -C reg list --stage production)
          echo "$(mreg --json -C reg status)" | ./build/mreg -C reg show x \
            -v 2
          if mreg backup create -r 'before it'; then :; fi
          cat <<END
          mreg not-a-command in a here-document
          END
          env A=1 mreg remote add origin "$URL" >/dev/null
EOF
"$PY" "$T/ci_check.py" calls "$T/shapes.yml" >"$T/shapes"
expect_eq "calls found inside \$(...), after | and &&, across a continuation, after env; none in words, comments, here-documents" \
	"$(cat "$T/shapes")" "shapes.yml jobs.j.steps[0]: mreg -C reg list --stage production
shapes.yml jobs.j.steps[0]: mreg --json -C reg status
shapes.yml jobs.j.steps[0]: ./build/mreg -C reg show x -v 2
shapes.yml jobs.j.steps[0]: mreg backup create -r 'before it'
shapes.yml jobs.j.steps[0]: mreg remote add origin \"\$URL\""
check "every call in that file is in mreg help (commands, subcommands, options)" \
	"$PY" "$T/ci_check.py" commands "$MREG" "$T/shapes.yml"
expect_eq "five calls checked" "$(grep -c '^ok - shapes.yml' "$T/.out")" 5

# ... and it fails: a command, a subcommand, an option, a global option that
# mreg does not have, and shell text that does not parse
mutant() {	# mutant DESC PATTERN FILE SED: the checker fails on FILE edited by SED, saying PATTERN
	sed "$4" "$3" >"$T/mutant.yml"
	cmp -s "$3" "$T/mutant.yml" && { fail "$1: the edit changed nothing"; return; }
	if "$PY" "$T/ci_check.py" commands "$MREG" "$T/mutant.yml" >"$T/m.out" 2>&1; then
		fail "$1: the checker passed"
	elif grep -q "^not ok - .*$2" "$T/m.out"; then
		ok "$1"
	else
		fail "$1: no 'not ok' line saying $2"; sed 's/^/    # /' "$T/m.out" | head -5
	fi
}
mutant "mreg promot in mreg-promote.yml is reported" "'promot' is not a command in mreg help" \
	"$P" 's/mreg -C \. promote/mreg -C . promot/'
mutant "mreg promot in mreg.gitlab-ci.yml is reported" "'promot' is not a command in mreg help" \
	"$G" 's/mreg -C \. promote/mreg -C . promot/'
mutant "an option mreg promote does not have is reported" "'--too' is not an option in mreg help promote" \
	"$P" 's/--to "/--too "/'
mutant "a subcommand mreg backup does not have is reported" "'creat' is not a subcommand in mreg help backup" \
	"$T/shapes.yml" 's/backup create/backup creat/'
mutant "a subcommand left out is reported" "mreg remote needs a subcommand" \
	"$T/shapes.yml" 's/remote add origin "$URL"/remote/'
mutant "a global option mreg does not have is reported" "'--jsn' is not a global option in mreg help" \
	"$T/shapes.yml" 's/mreg --json/mreg --jsn/'
mutant "shell text that does not parse is reported" "the shell text parses" \
	"$T/shapes.yml" 's/; fi$/;/'

# Each workflow builds mreg from source: its apt-get install gives every
# library the Makefile links (a package it names, or one those depend on).
# The Debian package of each -l flag is the one that holds its lib*.so or
# lib*.a here.
need=""
for l in $(make -s --no-print-directory -C "$TESTDATA/.." --eval 'print-link: ; @echo $(LIBS) $(STATIC_LIBS) $(CLI_ALLOC)' print-link |
	tr ' ' '\n' | sed -n 's/^-l//p' | sort -u); do
	f=""
	for e in so a; do
		p=$(gcc -print-file-name="lib$l.$e")
		[ "$p" != "lib$l.$e" ] && { f=$(realpath -s "$p"); break; }
	done
	pk=$([ -n "$f" ] && dpkg -S "$f" 2>/dev/null | head -1 | cut -d: -f1)
	[ -n "$pk" ] || { fail "no Debian package holds lib$l (linked by the Makefile)"; continue; }
	need="$need $pk"
done
need=$(echo $need | tr ' ' '\n' | sort -u)
expect_eq "the Makefile links libraries of several packages (libjemalloc-dev among them)" \
	"$(echo "$need" | grep -c -x -e libgit2-dev -e libdeflate-dev -e libjemalloc-dev)" 3
# missing FILE: the packages of $need that FILE's apt-get install does not give
missing() {
	"$PY" "$T/ci_check.py" packages "$1" | cut -d' ' -f2- | tr ' ' '\n' | grep . | sort -u >"$T/listed"
	[ -s "$T/listed" ] || { echo "(no apt-get install)"; return; }
	{
		cat "$T/listed"
		for pk in $(cat "$T/listed"); do
			dpkg-query -W -f='${Depends}\n' "$pk" 2>/dev/null | tr ',|' '\n\n' | sed 's/^ *//; s/[ :(].*//'
		done
	} | sort -u >"$T/given"
	echo "$need" | grep -v -x -F -f "$T/given" | tr '\n' ' '
}
for f in "$P" "$C" "$G"; do
	expect_eq "$(basename "$f") installs what mreg's build links" "$(missing "$f")" ""
done
sed 's/ libdeflate-dev//' "$G" >"$T/mutant.yml"
cmp -s "$G" "$T/mutant.yml" && fail "the edit of the mutant changed nothing"
expect_eq "a build package left out of a workflow is reported" "$(missing "$T/mutant.yml")" "libdeflate-dev "
finish
