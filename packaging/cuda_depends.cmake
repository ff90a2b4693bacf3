# Debian dependencies of a CUDA-enabled libcab on the CUDA libraries it links (CUDA::cudart,
# CUDA::cublas, CUDA::cublasLt...). dpkg-shlibdeps cannot name them when the toolkit came from
# NVIDIA's runfile or its packages carry no shlibs file, so they are declared from what the link
# line names, directly or through the targets it links (CUDA::cublas brings CUDA::cublasLt):
# - the file dpkg knows belongs to a package (Debian's nvidia-cuda-toolkit: libcudart12,
#   libcublas12, libcublaslt12; NVIDIA's apt repository): that package, at least at the
#   installed version;
# - otherwise the package names of NVIDIA's apt repository for this toolkit version
#   (cuda-cudart-13-0; libcublas-13-0, which holds libcublas and libcublasLt).
# Static archives (CUDA::culibos) are inside libcab and need no package. RPM needs none of this:
# rpmbuild's automatic requirements name every linked SONAME (libcublasLt.so.13()(64bit)).

# Writes to `out` the CUDA:: imported targets that `target` links, directly or through the
# interface of the targets it links.
function(cab_cuda_linked_targets target out)
  get_target_property(queue ${target} LINK_LIBRARIES)
  if(NOT queue)
    set(queue)
  endif()
  set(seen)
  set(found)
  while(queue)
    list(POP_FRONT queue item)
    if(item MATCHES "^\\$<LINK_ONLY:(.+)>$")
      set(item ${CMAKE_MATCH_1})
    endif()
    if(NOT TARGET ${item} OR item IN_LIST seen)
      continue()
    endif()
    list(APPEND seen ${item})
    if(item MATCHES "^CUDA::")
      list(APPEND found ${item})
    endif()
    get_target_property(next ${item} INTERFACE_LINK_LIBRARIES)
    if(next)
      list(APPEND queue ${next})
    endif()
  endwhile()
  set(${out} "${found}" PARENT_SCOPE)
endfunction()

# Writes to `out` the dependency list (", "-separated) for the CUDA libraries `target` links.
function(cab_cuda_debian_depends target out)
  cab_cuda_linked_targets(${target} links)
  set(version_suffix "${CUDAToolkit_VERSION_MAJOR}-${CUDAToolkit_VERSION_MINOR}")
  set(deps)
  foreach(link IN LISTS links)
    string(REGEX REPLACE "^CUDA::" "" name ${link})
    if(name STREQUAL "cuda_driver")
      # libcuda.so comes with the GPU driver, installed apart from any package of libcab.
      continue()
    endif()
    get_target_property(location ${link} IMPORTED_LOCATION)
    if(NOT location OR location MATCHES "\\.a$")
      continue()  # an interface target (CUDA::toolkit) or a static archive
    endif()
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
    elseif(name MATCHES "^cublas(Lt)?$")
      list(APPEND deps "libcublas-${version_suffix}")
    elseif(name MATCHES "^(cufft|curand|cusolver|cusparse)$")
      list(APPEND deps "lib${name}-${version_suffix}")
    else()
      message(WARNING "libcab packages: no Debian package known for ${link} (${location}), "
                      "so libcab0 does not depend on it; set CAB_PACKAGE_CUDA_DEPENDS")
    endif()
  endforeach()
  list(REMOVE_DUPLICATES deps)
  list(SORT deps)
  list(JOIN deps ", " deps)
  set(${out} "${deps}" PARENT_SCOPE)
endfunction()
