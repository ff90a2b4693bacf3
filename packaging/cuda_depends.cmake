# Debian dependencies of a CUDA-enabled libcab on the CUDA libraries it links (CUDA::cudart,
# CUDA::cublas...). dpkg-shlibdeps cannot name them when the toolkit came from NVIDIA's runfile
# or its packages carry no shlibs file, so they are declared from what the link line names:
# - the file dpkg knows belongs to a package (Debian's nvidia-cuda-toolkit, NVIDIA's apt
#   repository): that package, at least at the installed version;
# - otherwise the package names of NVIDIA's apt repository for this toolkit version
#   (cuda-cudart-13-0, libcublas-13-0), the usual way to install the CUDA runtime on Debian.

# Writes to `out` the dependency list (", "-separated) for the CUDA libraries `target` links.
function(cab_cuda_debian_depends target out)
  get_target_property(links ${target} LINK_LIBRARIES)
  set(version_suffix "${CUDAToolkit_VERSION_MAJOR}-${CUDAToolkit_VERSION_MINOR}")
  set(deps)
  foreach(link IN LISTS links)
    if(NOT link MATCHES "^CUDA::([A-Za-z_]+)$")
      continue()
    endif()
    set(name ${CMAKE_MATCH_1})
    if(name STREQUAL "cuda_driver")
      # libcuda.so comes with the GPU driver, installed apart from any package of libcab.
      continue()
    endif()
    get_target_property(location ${link} IMPORTED_LOCATION)
    file(REAL_PATH "${location}" location)
    execute_process(COMMAND dpkg-query -S "${location}"
      OUTPUT_VARIABLE owner RESULT_VARIABLE owner_status ERROR_QUIET)
    if(owner_status EQUAL 0 AND owner MATCHES "^([a-z0-9][a-z0-9.+-]*)(:[a-z0-9]+)?: ")
      set(package ${CMAKE_MATCH_1})
      execute_process(COMMAND dpkg-query -W -f=\${Version} ${package}
        OUTPUT_VARIABLE installed COMMAND_ERROR_IS_FATAL ANY)
      list(APPEND deps "${package} (>= ${installed})")
    elseif(name STREQUAL "cudart")
      list(APPEND deps "cuda-cudart-${version_suffix}")
    elseif(name MATCHES "^cublas")
      list(APPEND deps "libcublas-${version_suffix}")
    elseif(name MATCHES "^(cufft|curand|cusolver|cusparse)$")
      list(APPEND deps "lib${name}-${version_suffix}")
    else()
      message(WARNING "libcab packages: no Debian package known for ${link} (${location}), "
                      "so libcab0 does not depend on it; set CAB_PACKAGE_CUDA_DEPENDS")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES deps)
  list(JOIN deps ", " deps)
  set(${out} "${deps}" PARENT_SCOPE)
endfunction()
