# SPDX-License-Identifier: Apache-2.0
# Debian packages from the install components, for `cpack -G DEB` in a build tree:
#   cachekit-agent          the daemon, cachekit-ctl, man pages, systemd unit/tmpfiles/sysusers
#   libcachekit-stub0       the shared C stub (shlibs file; ldconfig trigger)
#   libcachekit-stub-dev    headers, .so link, static library, pkg-config and CMake files
#   python3-cachekit-stub   the Python stub in /usr/lib/python3/dist-packages
# Shared-library dependencies come from dpkg-shlibdeps; the Python ones are Debian's packages.
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME cachekit-agent)
set(CPACK_PACKAGE_VENDOR "cachekit")
set(CPACK_PACKAGE_CONTACT "cachekit-agent maintainers <maintainers@cachekit.invalid>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "local agent for the cachekit.io managed cache")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL agent lib dev python)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION misc)
set(CPACK_DEBIAN_PACKAGE_HOMEPAGE "https://cachekit.io")

set(CPACK_DEBIAN_AGENT_PACKAGE_NAME cachekit-agent)
set(CPACK_DEBIAN_AGENT_PACKAGE_SECTION net)
set(CPACK_DEBIAN_AGENT_PACKAGE_RECOMMENDS "systemd")
set(CPACK_DEBIAN_AGENT_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_LIST_DIR}/cachekit-agent.postinst)
set(CPACK_DEBIAN_AGENT_DESCRIPTION "cachekit agent: holds the cachekit.io secrets for a host
 One agent per host holds the cachekit.io API key and the encryption keys and serves
 local processes over a ZeroMQ ipc:// socket. Includes cachekit-ctl and the systemd unit.")

set(CPACK_DEBIAN_LIB_PACKAGE_NAME libcachekit-stub0)
set(CPACK_DEBIAN_LIB_PACKAGE_SECTION libs)
set(CPACK_DEBIAN_LIB_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_LIB_DESCRIPTION "cachekit agent C stub library
 The thin C client of the cachekit agent (libcachekit-stub.so.0).")

set(CPACK_DEBIAN_DEV_PACKAGE_NAME libcachekit-stub-dev)
set(CPACK_DEBIAN_DEV_PACKAGE_SECTION libdevel)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS
  "libcachekit-stub0 (= ${PROJECT_VERSION}), libzmq3-dev, libprotobuf-c-dev, pkg-config")
set(CPACK_DEBIAN_DEV_DESCRIPTION "cachekit agent C stub library: development files
 Headers, the static library, pkg-config and CMake package files of libcachekit-stub.")

set(CPACK_DEBIAN_PYTHON_PACKAGE_NAME python3-cachekit-stub)
set(CPACK_DEBIAN_PYTHON_PACKAGE_SECTION python)
set(CPACK_DEBIAN_PYTHON_PACKAGE_ARCHITECTURE all)
set(CPACK_DEBIAN_PYTHON_PACKAGE_DEPENDS "python3, python3-zmq, python3-protobuf, python3-msgpack")
set(CPACK_DEBIAN_PYTHON_DESCRIPTION "cachekit agent Python stub
 The cachekit_stub package: sync and asyncio clients of the cachekit agent.")

include(CPack)
