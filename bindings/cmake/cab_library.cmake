# Provides the imported target cab::cab for projects that build on libcab (bindings, samples):
#   - from a build tree when CAB_LIB_DIR names the folder holding libcab.so (CAB_INCLUDE_DIR
#     defaults to this checkout's include/), e.g. -DCAB_LIB_DIR=/path/to/libcab/build/lib;
#   - otherwise from the installed package (find_package(cab), from libcab-dev).
if(TARGET cab::cab)
  return()
endif()

set(CAB_LIB_DIR "$ENV{CAB_LIB_DIR}" CACHE PATH "Folder with a built libcab.so (empty: installed)")
set(CAB_INCLUDE_DIR "${CMAKE_CURRENT_LIST_DIR}/../../include" CACHE PATH "Folder with cab/cab.h")

if(CAB_LIB_DIR)
  find_library(CAB_LIBRARY NAMES cab PATHS "${CAB_LIB_DIR}" NO_DEFAULT_PATH REQUIRED)
  find_path(CAB_HEADER_DIR cab/cab.h PATHS "${CAB_INCLUDE_DIR}" NO_DEFAULT_PATH REQUIRED)
  add_library(cab::cab SHARED IMPORTED)
  set_target_properties(cab::cab PROPERTIES
    IMPORTED_LOCATION "${CAB_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${CAB_HEADER_DIR}")
  message(STATUS "libcab: ${CAB_LIBRARY} (build tree)")
else()
  find_package(cab 0.1 CONFIG REQUIRED)
  message(STATUS "libcab: installed package in ${cab_DIR}")
endif()
