# Registries with many events, for CLI tests: sourced after lib.sh.
#
#   orig_schema DB              the original's SQLite schema (RegistryDatabase._init_db,
#                               verbatim) created in DB
#   bulk_registry DIR PREFIX MODELS EVENTS
#                               a registry at DIR holding EVENTS registrations of 300-byte
#                               versions of PREFIX0..PREFIX<MODELS-1>, in one commit: a
#                               database built here, moved in by mreg migrate ($F, else
#                               $MREG; not durable, for speed)
#   replay_one_by_one SRC REPO  each event SRC's last commit added, committed on its own on
#                               top of REPO's main by stock git (fast-import), the other
#                               files it added with the first: a history of EVENTS commits
#
# Making 10,000 events one mreg command at a time would take minutes under
# the sanitizers; these take seconds.

# orig_schema DB: RegistryDatabase._init_db, verbatim (the one copy is the Python package's)
orig_schema() {
	sqlite3 "$1" <"$TESTDATA/../bindings/python/mreg/compat/original_schema.sql"
}

bulk_registry() {
	_bd=$1 _bp=$2 _bm=$3 _bn=$4
	mkdir -p "$T/bulkdb.$_bp"
	model_file "$T/bulkdb.$_bp/f.pt" 300
	_bsha=$(sha256sum <"$T/bulkdb.$_bp/f.pt" | cut -c1-64)
	orig_schema "$T/bulkdb.$_bp/registry.db"
	awk -v sha="$_bsha" -v p="$_bp" -v nm="$_bm" -v ne="$_bn" 'BEGIN {
		print "BEGIN;"
		for (m = 0; m < nm; m++)
			printf "INSERT INTO models VALUES (\047%s%d\047, \047%s%d\047, \047\047, \047heuristic\047, \0472025-01-01T00:00:00.000000\047, \0472025-01-01T00:00:00.000000\047);\n", p, m, p, m
		for (n = 0; n < ne; n++) {
			m = n % nm; v = int(n / nm) + 1
			t = sprintf("2025-01-%02dT%02d:%02d:%02d.%06d", 1 + int(n / 86400), int(n / 3600) % 24, int(n / 60) % 60, n % 60, n)
			printf "INSERT INTO versions (model_id, version, stage, file_path, file_hash, file_size_bytes, metrics_json, training_config_json, created_at, updated_at) VALUES (\047%s%d\047, %d, \047development\047, \047f.pt\047, \047%s\047, 300, NULL, NULL, \047%s\047, \047%s\047);\n", p, m, v, sha, t, t
			printf "INSERT INTO stage_transitions (model_id, version, from_stage, to_stage, reason, transitioned_by, transitioned_at) VALUES (\047%s%d\047, %d, NULL, \047development\047, \047Initial registration\047, NULL, \047%s\047);\n", p, m, v, t
		}
		print "COMMIT;"
	}' | sqlite3 "$T/bulkdb.$_bp/registry.db"
	_bmreg=${F:-$MREG}
	"$_bmreg" init "$_bd" >/dev/null && git -C "$_bd" config mreg.fsync false &&
		"$_bmreg" -C "$_bd" migrate "$T/bulkdb.$_bp/registry.db" >"$T/bulkdb.$_bp/out" 2>&1 ||
		{ fail "migrate the database of $_bn events"; sed 's/^/    # /' "$T/bulkdb.$_bp/out"; }
}

replay_one_by_one() {
	_rs=$1 _rr=$2
	git -C "$_rr" fetch -q "$_rs" main:refs/bulk/src
	_rbase=$(git -C "$_rr" rev-parse main)
	_rwhen=$(git -C "$_rr" log -1 --format=%ct main)
	git -C "$_rs" diff-tree -r --no-commit-id HEAD^ HEAD | LC_ALL=C awk -v base="$_rbase" -v when="$_rwhen" '
		{ split($0, tab, "\t"); split(tab[1], f, " "); path = tab[2]; sha = f[4] }
		path !~ /^events\// { other[++no] = sha " " path; next }
		{ ev[++ne] = sha " " path }
		END {
			for (k = 1; k <= ne; k++) {
				split(ev[k], e, " "); id = e[2]; sub(/^.*\//, "", id); sub(/\.json$/, "", id)
				msg = "register a bulk version\n\nMreg-Event: " id "\nMreg-Type: version.registered\n"
				printf "commit refs/heads/main\ncommitter bulk <bulk@mreg.invalid> %d +0000\ndata %d\n%s\n", when + int(k / 1000), length(msg), msg
				if (k == 1) {
					printf "from %s\n", base
					for (j = 1; j <= no; j++) { split(other[j], o, " "); printf "M 100644 %s %s\n", o[1], o[2] }
				}
				printf "M 100644 %s %s\n\n", e[1], e[2]
			}
		}' | git -C "$_rr" fast-import --quiet || fail "git fast-import of the events of $_rs"
	git -C "$_rr" update-ref -d refs/bulk/src
}
