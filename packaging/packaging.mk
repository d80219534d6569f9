# packaging/ — the man page (installed by make install), the systemd unit and configuration
# files the packages install, and the targets that build the packages from the release
# tarball into the build tree:
#   make deb             pkg-build/deb/perfagent_<version>_<arch>.deb (dpkg-buildpackage)
#   make rpm             pkg-build/rpm/RPMS/<arch>/perfagent-<version>-1.<arch>.rpm (rpmbuild)
#   make check-packages  builds both, lints them, installs the .deb into a fresh Debian 12
#                        root and runs the service's command line there (root, network to
#                        a Debian mirror; minutes: CI runs it apart from make check)
# The packages' own builds skip the test suite (nocheck): it runs in the source tree.
dist_man_MANS = packaging/perfagent.8

PACKAGING_FILES = \
	packaging/perfagent.service \
	packaging/perfagent.json \
	packaging/perfagent.default \
	packaging/install-deps.sh \
	packaging/quickstart.sh \
	packaging/debian/changelog \
	packaging/debian/control \
	packaging/debian/copyright \
	packaging/debian/rules \
	packaging/debian/source/format \
	packaging/debian/perfagent.lintian-overrides \
	packaging/rpm/perfagent.spec \
	packaging/rpm/perfagent.rpmlintrc \
	packaging/container/Containerfile \
	packaging/container/entrypoint.sh \
	packaging/kubernetes/daemonset.yaml \
	packaging/kubernetes/sidecar.yaml \
	packaging/kubernetes/README.md
EXTRA_DIST += $(PACKAGING_FILES)

PKG_BUILD = $(abs_top_builddir)/pkg-build

.PHONY: deb rpm check-packages
deb: dist-gzip
	rm -rf $(PKG_BUILD)/deb && mkdir -p $(PKG_BUILD)/deb
	tar -xzf $(distdir).tar.gz -C $(PKG_BUILD)/deb
	cp -R $(PKG_BUILD)/deb/$(distdir)/packaging/debian $(PKG_BUILD)/deb/$(distdir)/debian
	cd $(PKG_BUILD)/deb/$(distdir) && \
		DEB_BUILD_OPTIONS="nocheck $${DEB_BUILD_OPTIONS:-}" dpkg-buildpackage -us -uc -b
	@ls -l $(PKG_BUILD)/deb/*.deb

rpm: dist-gzip
	rm -rf $(PKG_BUILD)/rpm && mkdir -p $(PKG_BUILD)/rpm/SOURCES
	cp $(distdir).tar.gz $(PKG_BUILD)/rpm/SOURCES/
	rpmbuild -bb --nocheck --nodeps --define '_topdir $(PKG_BUILD)/rpm' \
		$(srcdir)/packaging/rpm/perfagent.spec
	@ls -l $(PKG_BUILD)/rpm/RPMS/*/*.rpm

check-packages: deb rpm
	top_srcdir='$(abs_top_srcdir)' top_builddir='$(abs_top_builddir)' \
		PKG_BUILD='$(PKG_BUILD)' $(SHELL) $(srcdir)/tests/packaging/packages.sh

clean-local: clean-pkg-build
.PHONY: clean-pkg-build
clean-pkg-build:
	rm -rf $(PKG_BUILD)
