#!/bin/sh
# make check-packages: the .deb and .rpm that make deb / make rpm built (in $PKG_BUILD) are
# lint-clean (lintian, rpmlint: what remains is overridden with a reason in the packaging),
# and the .deb installs into a fresh Debian 12 root made by debootstrap, where apt resolves
# its dependencies from the Debian archive. There, the installed service's command line
# (ExecStart with /etc/default/perfagent) runs the way systemd runs it: as an unprivileged
# user with only the unit's ambient capabilities and no_new_privs, in the state directory,
# stopped by SIGTERM; it must write a profile with samples. doctor runs the same way.
# Then the package purges cleanly. Needs root and a Debian mirror (DEBIAN_MIRROR);
# PERFAGENT_TEST_ROOTFS_TAR caches the debootstrap result between runs.
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/lib/common.sh"

: "${PKG_BUILD:=$top_builddir/pkg-build}"
: "${DEBIAN_MIRROR:=http://deb.debian.org/debian}"
[ "$(id -u)" = 0 ] || skip "must run as root (debootstrap, chroot)"
require_cmd lintian rpmlint debootstrap chroot setpriv timeout

deb=$(ls "$PKG_BUILD"/deb/perfagent_*.deb 2>/dev/null | head -n 1)
rpm=$(ls "$PKG_BUILD"/rpm/RPMS/*/perfagent-*.rpm 2>/dev/null | head -n 1)
[ -f "$deb" ] || fail "no .deb in $PKG_BUILD/deb: make deb"
[ -f "$rpm" ] || fail "no .rpm in $PKG_BUILD/rpm: make rpm"
echo "packages: $deb $rpm"

# ---- lint
lintian -I --pedantic -E "$PKG_BUILD"/deb/perfagent_*.changes >"$PKG_BUILD/lintian.txt" 2>&1
grep -v "running with root privileges" "$PKG_BUILD/lintian.txt" >"$PKG_BUILD/lintian-tags.txt"
cat "$PKG_BUILD/lintian-tags.txt"
[ -s "$PKG_BUILD/lintian-tags.txt" ] && fail "lintian reports tags (see above)"
echo "lintian --pedantic -E: clean"
rpmlint -r "$top_srcdir/packaging/rpm/perfagent.rpmlintrc" "$rpm" \
	"$top_srcdir/packaging/rpm/perfagent.spec" >"$PKG_BUILD/rpmlint.txt" 2>&1
tail -n 3 "$PKG_BUILD/rpmlint.txt"
grep -q " 0 errors, 0 warnings" "$PKG_BUILD/rpmlint.txt" || fail "rpmlint is not clean (see above)"
rpm -qp --scripts "$rpm" | grep -q "systemctl" || fail "the rpm's scriptlets do not call systemctl"

# ---- a fresh Debian 12 root
root=$(mktemp -d "${TMPDIR:-/var/tmp}/perfagent-root.XXXXXX") || exit 99
cleanup() {
	for m in dev sys proc; do
		umount -R "$root/$m" 2>/dev/null || umount -l "$root/$m" 2>/dev/null
	done
	rm -rf --one-file-system "$root"
}
trap cleanup EXIT
trap 'exit 99' INT TERM HUP
if [ -n "${PERFAGENT_TEST_ROOTFS_TAR:-}" ] && [ -f "$PERFAGENT_TEST_ROOTFS_TAR" ]; then
	echo "Debian 12 root from $PERFAGENT_TEST_ROOTFS_TAR"
	tar -xpf "$PERFAGENT_TEST_ROOTFS_TAR" -C "$root" || fail "cannot unpack $PERFAGENT_TEST_ROOTFS_TAR"
else
	echo "debootstrap --variant=minbase bookworm $root $DEBIAN_MIRROR"
	debootstrap --variant=minbase bookworm "$root" "$DEBIAN_MIRROR" >"$PKG_BUILD/debootstrap.log" 2>&1 ||
		{ tail -n 20 "$PKG_BUILD/debootstrap.log"; fail "debootstrap failed"; }
	[ -z "${PERFAGENT_TEST_ROOTFS_TAR:-}" ] || tar -cpf "$PERFAGENT_TEST_ROOTFS_TAR" -C "$root" .
fi
grep -q 'VERSION_ID="12"' "$root/etc/os-release" || fail "the root is not Debian 12"
chmod 755 "$root" # mktemp made it 0700; a real / is 0755 (access(2) ignores capabilities)
mount -t proc proc "$root/proc" && mount --rbind /sys "$root/sys" && mount --rbind /dev "$root/dev" ||
	fail "cannot mount /proc, /sys, /dev in the root"
cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null
cp "$deb" "$root/tmp/"

in_root() {
	chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive "$@"
}
in_root apt-get update -q >"$PKG_BUILD/apt.log" 2>&1 || { cat "$PKG_BUILD/apt.log"; fail "apt-get update in the root"; }
in_root apt-get install -y -q --no-install-recommends "/tmp/$(basename "$deb")" >>"$PKG_BUILD/apt.log" 2>&1 ||
	{ tail -n 30 "$PKG_BUILD/apt.log"; fail "apt-get install of the .deb in a fresh Debian 12 root"; }
grep -E "^(Setting up|Unpacking) " "$PKG_BUILD/apt.log" | sed 's/^/  apt: /' | tail -n 12

for f in /usr/bin/perfagent /lib/systemd/system/perfagent.service /etc/perfagent/perfagent.json \
	/etc/default/perfagent /usr/share/man/man8/perfagent.8.gz; do
	[ -e "$root$f" ] || fail "$f is not installed"
done
conffiles=$(in_root dpkg-query -W -f='${Conffiles}' perfagent)
for f in /etc/perfagent/perfagent.json /etc/default/perfagent; do
	echo "$conffiles" | grep -q " $f " || fail "$f is not a conffile"
done
in_root /usr/bin/perfagent --version || fail "the installed binary does not run"
"$TESTS_PYTHON" -c 'import json, sys; json.load(open(sys.argv[1]))' "$root/etc/perfagent/perfagent.json" ||
	fail "/etc/perfagent/perfagent.json is not valid JSON"

# ---- the service's command line, run as systemd would
unit=$root/lib/systemd/system/perfagent.service
execstart=$(sed -n 's/^ExecStart=//p' "$unit")
caps=$(sed -n 's/^AmbientCapabilities=//p' "$unit" | tr 'A-Z' 'a-z' | sed 's/cap_//g; s/ /,+/g; s/^/+/')
state=$(sed -n 's/^StateDirectory=//p' "$unit")
[ -n "$execstart" ] && [ -n "$caps" ] && [ -n "$state" ] || fail "cannot read ExecStart/caps/StateDirectory"
echo "ExecStart=$execstart"
echo "ambient capabilities: $caps; state: /var/lib/$state"
# What DynamicUser= and StateDirectory= provide: a free uid owning /var/lib/<state>.
uid=61876
mkdir -p "$root/var/lib/$state" && chown "$uid:$uid" "$root/var/lib/$state" && chmod 750 "$root/var/lib/$state"
# Every step execs the next (chroot, setpriv, env, sh, perfagent): the pid stays the agent's.
exec_as_service() {
	exec chroot "$root" /usr/bin/setpriv --reuid=$uid --regid=$uid --clear-groups \
		--inh-caps="-all,$caps" --ambient-caps="-all,$caps" --bounding-set="-all,$caps" \
		--no-new-privs -- /usr/bin/env -i PATH=/usr/bin:/bin \
		/bin/sh -c "cd /var/lib/$state && . /etc/default/perfagent && exec $*"
}
(exec_as_service "/usr/bin/perfagent doctor") >"$PKG_BUILD/doctor.txt" 2>&1
rc=$?
cat "$PKG_BUILD/doctor.txt"
[ "$rc" = 0 ] || fail "doctor with the service's identity and capabilities exited $rc"

# systemctl stop sends SIGTERM: the agent writes its last window and exits 0. A busy loop
# in the root gives it something to sample on an otherwise idle machine (idle CPUs take no
# cpu-clock samples).
chroot "$root" /bin/sh -c 'while :; do :; done' &
busy=$!
(exec_as_service "$execstart") 2>"$PKG_BUILD/service.log" &
svc=$!
sleep 4
kill "$busy"
wait "$busy" 2>/dev/null
[ "$(cat "/proc/$svc/comm" 2>/dev/null)" = perfagent ] || fail "pid $svc is not the agent"
kill -TERM "$svc"
wait "$svc"
rc=$?
sed 's/^/  service: /' "$PKG_BUILD/service.log"
[ "$rc" = 0 ] || fail "the service's command line exited $rc"
files=$(ls "$root/var/lib/$state/profiles/"*.pb.gz 2>/dev/null)
[ -n "$files" ] || fail "no profile in /var/lib/$state/profiles"
ls -l $files
grep -q "summary: .*: [1-9][0-9]* samples" "$PKG_BUILD/service.log" || fail "the service took no samples"
if [ -n "$PROTO_DIR" ] && [ -f "$PROTO_DIR/pprof_profile.proto" ]; then
	# shellcheck disable=SC2086
	pprof_json $files | "$TESTS_PYTHON" -c '
import json, sys
p = json.load(sys.stdin)
n = sum(s["values"][0] for x in p for s in x["samples"])
print(f"{len(p)} profiles, {n} samples")
sys.exit(0 if n > 0 else 1)' || fail "the service's profiles hold no samples"
fi

in_root apt-get purge -y -q perfagent >>"$PKG_BUILD/apt.log" 2>&1 || fail "apt-get purge perfagent"
[ ! -e "$root/usr/bin/perfagent" ] && [ ! -e "$root/etc/perfagent/perfagent.json" ] ||
	fail "purge left the binary or the configuration behind"
echo "PASS"
