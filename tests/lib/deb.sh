# shellcheck shell=bash
# The Debian package built from a source tree (sourced by tests/test-deb.sh
# and tests/system/test-unit-container.sh).
#
# deb_build SRCDIR WORK: build it in a copy under WORK; the log is
# WORK/build.log, $deb names the package file (set even when the build
# failed: test with -f).  In a git checkout the copy is the committed tree
# (HEAD: in CI, the clean clone), so work in progress of others never
# breaks it; dpkg-buildpackage configures and builds in the tree it is given.
deb_build() {
	local src=$1 work=$2 version tree jobs
	version=$(sed -n '1s/^vitaled (\([^)]*\)).*/\1/p' "$src/debian/changelog")
	tree="$work/vitaled-$version"
	deb="$work/vitaled_${version}_$(dpkg --print-architecture).deb"
	mkdir -p "$tree"
	if git -C "$src" rev-parse --verify -q HEAD > /dev/null 2>&1; then
		git -C "$src" archive --format=tar HEAD | tar -x -C "$tree"
	else
		cp -a "$src/." "$tree/"
	fi
	[ -f "$tree/debian/control" ] || { echo "no debian/control in $tree" > "$work/build.log"; return 1; }
	jobs=$(nproc 2> /dev/null || echo 1)
	(cd "$tree" && DEB_BUILD_OPTIONS="parallel=$jobs ${DEB_BUILD_OPTIONS:-}" \
		dpkg-buildpackage -us -uc -b) > "$work/build.log" 2>&1 && [ -f "$deb" ]
}
