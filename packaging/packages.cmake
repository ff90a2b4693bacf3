# Debian and RPM packages of libcab, built by CPack from the install components of
# cmake/install.cmake. tools/ci/build_packages.sh configures (prefix /usr, CAB_CUDA=OFF), builds
# and runs cpack for both formats; by hand: configure with -DCMAKE_INSTALL_PREFIX=/usr, build,
# then `cpack` (the generator follows CAB_PACKAGE_LAYOUT).
#
#   component  Debian         RPM             contents
#   runtime    libcab0        libcab          libcab.so.0 (the SONAME's package)
#   tools      libcab-tools   libcab-tools    /usr/bin/cab and its manual page
#   dev        libcab-dev     libcab-devel    cab/cab.h, libcab.so, cab.pc, CMake package
#
# The Debian runtime package carries the SONAME in its name and holds nothing else, so that
# libcab0 and a future libcab1 install side by side (Debian policy 8.1 and 8.2): /usr/bin/cab
# would make them conflict, hence its own package. docs/ABI.md explains the versioning.

set(CAB_PACKAGE_CONTACT
  "libcab maintainers <maintainers@users.noreply.b-seed-4375da1e.example>"
  CACHE STRING "Maintainer named in the packages")
set(CAB_PACKAGE_RELEASE 1 CACHE STRING "Package revision: the Debian revision and RPM Release")
if(EXISTS /etc/debian_version)
  set(cab_default_layout DEB)
else()
  set(cab_default_layout RPM)
endif()
set(CAB_PACKAGE_LAYOUT ${cab_default_layout} CACHE STRING
  "Package format whose file layout (documentation, license) the install follows: DEB or RPM")
set_property(CACHE CAB_PACKAGE_LAYOUT PROPERTY STRINGS DEB RPM)
set(CAB_PACKAGE_CUDA_DEPENDS "" CACHE STRING
  "Debian dependencies on the CUDA libraries libcab links (empty: packaging/cuda_depends.cmake)")
# Must name the license of packaging/debian/copyright.
set(CAB_PACKAGE_LICENSE "LicenseRef-libcab-not-yet-licensed")

if(NOT CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  message(STATUS "libcab packages: prefix ${CMAKE_INSTALL_PREFIX}; "
                 "distribution packages need -DCMAKE_INSTALL_PREFIX=/usr")
endif()

get_target_property(CAB_SOVERSION cab SOVERSION)
set(cab_components runtime dev)
if(TARGET cab_cli)
  list(APPEND cab_components tools)
endif()
set(cab_deb_name_runtime libcab${CAB_SOVERSION})
set(cab_deb_name_dev libcab-dev)
set(cab_deb_name_tools libcab-tools)
set(cab_rpm_name_runtime libcab)
set(cab_rpm_name_dev libcab-devel)
set(cab_rpm_name_tools libcab-tools)
set(cab_deb_section_runtime libs)
set(cab_deb_section_dev libdevel)
set(cab_deb_section_tools science)
set(cab_full_version ${PROJECT_VERSION}-${CAB_PACKAGE_RELEASE})

# Per-package metadata files, installed only into packages (EXCLUDE_FROM_ALL: a plain
# `cmake --install` leaves them out): Debian wants copyright and changelog.Debian.gz (gzip -9n)
# in /usr/share/doc/<package>; RPM keeps the changelog in the header and the license under
# /usr/share/licenses.
set(cab_changelog_gz ${PROJECT_BINARY_DIR}/packaging/changelog.Debian.gz)
if(CAB_PACKAGE_LAYOUT STREQUAL "DEB")
  execute_process(
    COMMAND gzip -9nc ${CMAKE_CURRENT_LIST_DIR}/debian/changelog
    OUTPUT_FILE ${cab_changelog_gz} COMMAND_ERROR_IS_FATAL ANY)
  foreach(comp IN LISTS cab_components)
    install(FILES ${CMAKE_CURRENT_LIST_DIR}/debian/copyright ${cab_changelog_gz}
      DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/${cab_deb_name_${comp}} COMPONENT ${comp}
      EXCLUDE_FROM_ALL)
    # Each override says why the tag does not apply (docs/ABI.md lists them).
    install(FILES ${CMAKE_CURRENT_LIST_DIR}/debian/lintian-overrides/${comp}
      DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides COMPONENT ${comp}
      RENAME ${cab_deb_name_${comp}} EXCLUDE_FROM_ALL)
  endforeach()
else()
  install(FILES ${CMAKE_CURRENT_LIST_DIR}/debian/copyright
    DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/licenses/${cab_rpm_name_runtime} COMPONENT runtime
    EXCLUDE_FROM_ALL)
endif()

set(CPACK_PACKAGE_NAME libcab)
set(CPACK_PACKAGE_VENDOR "The libcab authors")
set(CPACK_PACKAGE_CONTACT "${CAB_PACKAGE_CONTACT}")
set(CPACK_PACKAGING_INSTALL_PREFIX "${CMAKE_INSTALL_PREFIX}")
# cab.pc names the prefix, so the packages cannot be relocated.
set(CPACK_PACKAGE_RELOCATABLE OFF)
set(CPACK_GENERATOR ${CAB_PACKAGE_LAYOUT})
set(CPACK_COMPONENTS_ALL ${cab_components})
set(CPACK_COMPONENTS_GROUPING IGNORE)
set(CPACK_STRIP_FILES ON)
set(CPACK_VERBATIM_VARIABLES ON)
set(CPACK_PROJECT_CONFIG_FILE ${CMAKE_CURRENT_LIST_DIR}/cpack_generator_options.cmake)

# Descriptions: packaging/description/<component>.txt, first line the synopsis.
foreach(comp IN LISTS cab_components)
  string(TOUPPER ${comp} COMP)
  file(READ ${CMAKE_CURRENT_LIST_DIR}/description/${comp}.txt cab_text)
  string(CONFIGURE "${cab_text}" cab_text @ONLY)
  string(FIND "${cab_text}" "\n" cab_eol)
  string(SUBSTRING "${cab_text}" 0 ${cab_eol} cab_summary)
  math(EXPR cab_eol "${cab_eol} + 1")
  string(SUBSTRING "${cab_text}" ${cab_eol} -1 cab_body)
  set(CPACK_DEBIAN_${COMP}_PACKAGE_NAME ${cab_deb_name_${comp}})
  set(CPACK_DEBIAN_${COMP}_PACKAGE_SECTION ${cab_deb_section_${comp}})
  set(CPACK_DEBIAN_${COMP}_DESCRIPTION "${cab_text}")
  set(CPACK_RPM_${COMP}_PACKAGE_NAME ${cab_rpm_name_${comp}})
  set(CPACK_RPM_${COMP}_PACKAGE_SUMMARY "${cab_summary}")
  set(CPACK_RPM_${COMP}_PACKAGE_DESCRIPTION "${cab_body}")
endforeach()

# Debian. Library dependencies come from dpkg-shlibdeps; it also finds libcab.so.0 (needed by
# the cab tool) and the CUDA libraries in the private directories, where a missing package
# is not an error, so those two are declared here.
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${CAB_PACKAGE_RELEASE})
set(CPACK_DEBIAN_PACKAGE_SOURCE libcab)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CMAKE_LIBRARY_OUTPUT_DIRECTORY})
# The shlibs file lets packages built against libcab depend on libcab0 (>= this version).
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS_POLICY ">=")
set(CPACK_DEBIAN_RUNTIME_PACKAGE_CONTROL_EXTRA ${CMAKE_CURRENT_LIST_DIR}/debian/triggers)
set(CPACK_DEBIAN_DEV_PACKAGE_DEPENDS "${cab_deb_name_runtime} (= ${cab_full_version})")
set(CPACK_DEBIAN_TOOLS_PACKAGE_DEPENDS "${cab_deb_name_runtime} (>= ${PROJECT_VERSION})")
if(CAB_CUDA_ENABLED)
  include(${CMAKE_CURRENT_LIST_DIR}/cuda_depends.cmake)
  if(CAB_PACKAGE_CUDA_DEPENDS STREQUAL "")
    cab_cuda_debian_depends(cab CAB_PACKAGE_CUDA_DEPENDS)
  endif()
  message(STATUS "libcab packages: ${cab_deb_name_runtime} depends on ${CAB_PACKAGE_CUDA_DEPENDS}")
  set(CPACK_DEBIAN_RUNTIME_PACKAGE_DEPENDS "${CAB_PACKAGE_CUDA_DEPENDS}")
  list(APPEND CPACK_DEBIAN_PACKAGE_SHLIBDEPS_PRIVATE_DIRS ${CUDAToolkit_LIBRARY_DIR})
endif()

# RPM. rpmbuild's automatic requirements name every linked SONAME, the CUDA runtime included
# (libcudart.so.13()(64bit)).
set(CPACK_RPM_COMPONENT_INSTALL ON)
set(CPACK_RPM_FILE_NAME RPM-DEFAULT)
set(CPACK_RPM_PACKAGE_RELEASE ${CAB_PACKAGE_RELEASE})
set(CPACK_RPM_PACKAGE_LICENSE "${CAB_PACKAGE_LICENSE}")
set(CPACK_RPM_CHANGELOG_FILE ${CMAKE_CURRENT_LIST_DIR}/rpm/changelog)
set(CPACK_RPM_DEV_PACKAGE_REQUIRES "${cab_rpm_name_runtime} = ${cab_full_version}")
set(CPACK_RPM_TOOLS_PACKAGE_REQUIRES "${cab_rpm_name_runtime} >= ${PROJECT_VERSION}")
# Directories the distribution owns are left out of the file lists.
set(CPACK_RPM_EXCLUDE_FROM_AUTO_FILELIST_ADDITION
  ${CMAKE_INSTALL_FULL_LIBDIR}/cmake ${CMAKE_INSTALL_FULL_LIBDIR}/pkgconfig
  ${CMAKE_INSTALL_FULL_MANDIR} ${CMAKE_INSTALL_FULL_MANDIR}/man1
  ${CMAKE_INSTALL_FULL_DATAROOTDIR}/licenses)

include(CPack)
