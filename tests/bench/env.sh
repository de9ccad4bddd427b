# Sourced by the bench scripts in their working directory $T: a clean git
# environment, so that no user or system config shapes the numbers, and the
# results file the steps record into.
export HOME="$T/home" GIT_CONFIG_NOSYSTEM=1 BENCH_RESULTS="$T/results"
unset MREG_DIR GIT_DIR GIT_WORK_TREE GIT_INDEX_FILE
mkdir -p "$HOME"
git config --global user.name "mreg bench"
git config --global user.email "bench@mreg.invalid"
git config --global init.defaultBranch main
# stock git's automatic gc runs in the foreground, inside the commit that triggers it
git config --global gc.autoDetach false
: >"$BENCH_RESULTS"
