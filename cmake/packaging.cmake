# `make package`: a Debian package of everything `cmake --install` puts in
# place (library, headers, CMake package files, linux_ext.pc, lsepoll and its
# man page, the license), built by CPack.
#
# The package installs under CMAKE_INSTALL_PREFIX, the prefix the pkg-config
# file was written for; the Makefile configures the package build with /usr.

# The license goes with every install, and so into the package:
# share/doc/linux_ext/LICENSE.
install(FILES ${PROJECT_SOURCE_DIR}/LICENSE DESTINATION ${CMAKE_INSTALL_DOCDIR})

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME liblinux-ext-dev)  # Debian names allow no underscore
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "${PROJECT_DESCRIPTION}")
set(CPACK_PACKAGE_DESCRIPTION
  "linux_ext::Epoll, a C++20 epoll set whose user-level table mirrors the kernel's, after Jane Street Core's Linux_ext.Epoll; and lsepoll, which lists the epoll sets of running processes.")
set(CPACK_PACKAGE_CONTACT "linux_ext maintainers <linux-ext-maintainers@users.noreply.github.com>")
set(CPACK_PACKAGE_HOMEPAGE_URL "https://github.com/linux-ext/linux_ext")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION libdevel)
# lsepoll is the only binary; the library itself is static.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "libc6 (>= 2.34), libstdc++6 (>= 12)")
set(CPACK_STRIP_FILES bin/lsepoll)
include(CPack)
