# Install rules, by component (one component per package, see packaging/packages.cmake):
#   runtime  libcab.so.MAJOR and the versioned file it links to
#   tools    the cab command-line tool and its manual page
#   dev      what building against libcab needs: cab/cab.h, the libcab.so link, cab.pc and the
#            CMake package (find_package(cab) gives the imported target cab::cab)
# Destinations are the GNUInstallDirs ones: with CMAKE_INSTALL_PREFIX=/usr on Debian the library
# goes to /usr/lib/<multiarch>, elsewhere to lib64 or lib.
include(CMakePackageConfigHelpers)

set(CAB_INSTALL_CMAKEDIR "${CMAKE_INSTALL_LIBDIR}/cmake/cab")
set(CAB_GENERATED_DIR "${PROJECT_BINARY_DIR}/packaging")

install(TARGETS cab EXPORT cabTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev)
install(FILES ${PROJECT_SOURCE_DIR}/include/cab/cab.h
  DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/cab COMPONENT dev)

install(EXPORT cabTargets NAMESPACE cab:: DESTINATION ${CAB_INSTALL_CMAKEDIR} COMPONENT dev)
configure_package_config_file(${PROJECT_SOURCE_DIR}/packaging/cabConfig.cmake.in
  ${CAB_GENERATED_DIR}/cabConfig.cmake INSTALL_DESTINATION ${CAB_INSTALL_CMAKEDIR})
# The ABI policy (docs/ABI.md): every release of one major version is compatible with older ones.
write_basic_package_version_file(${CAB_GENERATED_DIR}/cabConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${CAB_GENERATED_DIR}/cabConfig.cmake ${CAB_GENERATED_DIR}/cabConfigVersion.cmake
  DESTINATION ${CAB_INSTALL_CMAKEDIR} COMPONENT dev)

# cab.pc names its directories relative to ${prefix} unless GNUInstallDirs made them absolute.
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(CAB_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(CAB_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()
configure_file(${PROJECT_SOURCE_DIR}/packaging/cab.pc.in ${CAB_GENERATED_DIR}/cab.pc @ONLY)
install(FILES ${CAB_GENERATED_DIR}/cab.pc
  DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig COMPONENT dev)

if(TARGET cab_cli)
  install(TARGETS cab_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT tools)
  # Manual pages are installed compressed with gzip -9n (Debian policy 12.1, reproducible).
  configure_file(${PROJECT_SOURCE_DIR}/packaging/cab.1.in ${CAB_GENERATED_DIR}/cab.1 @ONLY)
  execute_process(COMMAND gzip -9nc ${CAB_GENERATED_DIR}/cab.1
    OUTPUT_FILE ${CAB_GENERATED_DIR}/cab.1.gz COMMAND_ERROR_IS_FATAL ANY)
  install(FILES ${CAB_GENERATED_DIR}/cab.1.gz
    DESTINATION ${CMAKE_INSTALL_MANDIR}/man1 COMPONENT tools)
endif()
