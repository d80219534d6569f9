# cgroup helpers for the end-to-end tests of targets and labels; sourced after e2e-lib.sh.
#
# cg_setup finds the cgroup2 hierarchy (mounting one under the scratch directory when the
# host has none) and makes a private directory CG_TOP in it; everything the test creates
# lives below CG_TOP and is removed when the test exits (its processes are moved back to
# the root first, since a cgroup with tasks cannot be removed).

cg_setup() {
	[ "$(id -u)" = 0 ] || skip "cgroup tests need root (creating cgroups, moving tasks)"
	CG2=$(awk '$3 == "cgroup2" { print $2; exit }' /proc/mounts)
	CG_MOUNTED=""
	if [ -z "$CG2" ]; then
		mkdir -p "$TEST_TMP/cg2" || exit 99
		mount -t cgroup2 none "$TEST_TMP/cg2" || skip "cannot mount cgroup2"
		CG2=$TEST_TMP/cg2
		CG_MOUNTED=$CG2
	fi
	CG_TOP=$CG2/perfagent-e2e-$$
	mkdir "$CG_TOP" || fail "cannot create $CG_TOP"
	E2E_ON_EXIT="cg_cleanup; $E2E_ON_EXIT"
	echo "cgroup2 at $CG2, test cgroups under $CG_TOP"
}

cg_cleanup() {
	[ -n "${CG_TOP:-}" ] && [ -d "$CG_TOP" ] || return 0
	find "$CG_TOP" -depth -type d | while read -r d; do
		while read -r p; do
			echo "$p" >"$CG2/cgroup.procs" 2>/dev/null
		done <"$d/cgroup.procs"
		rmdir "$d" 2>/dev/null
	done
	[ -z "$CG_MOUNTED" ] || umount "$CG_MOUNTED"
}

# cg_move PID DIR: put PID (all its threads) in cgroup DIR.
cg_move() {
	echo "$1" >"$2/cgroup.procs" || fail "cannot move $1 into $2"
}

# json_get FILE EXPR: a value of the summary JSON (python expression on `s`).
json_get() {
	"$TESTS_PYTHON" -c "import json,sys; s=json.load(open(sys.argv[1])); print($2)" "$1"
}
