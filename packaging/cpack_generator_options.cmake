# Read by cpack once per generator (CPACK_PROJECT_CONFIG_FILE). CPackDeb would put the
# project-wide summary in front of each component's description, which already starts with its
# own synopsis line (packaging/description/).
if(CPACK_GENERATOR STREQUAL "DEB")
  unset(CPACK_PACKAGE_DESCRIPTION_SUMMARY)
endif()
