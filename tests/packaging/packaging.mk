# tests/packaging/ — the unit and the container entrypoint/manifests run with make check;
# packages.sh (build, lint, install into a Debian 12 root) is make check-packages
# (packaging/packaging.mk): it needs minutes and a Debian mirror.
PACKAGING_TESTS = \
	tests/packaging/unit.sh \
	tests/packaging/container.sh

dist_check_SCRIPTS += $(PACKAGING_TESTS)
TESTS += $(PACKAGING_TESTS)
EXTRA_DIST += tests/packaging/packages.sh
