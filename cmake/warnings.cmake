# Warnings are errors for libcab's own C and C++ code.
function(cab_target_warnings target)
  target_compile_options(${target} PRIVATE
    $<$<COMPILE_LANGUAGE:CXX,C>:-Wall -Wextra -Werror -Wshadow=local -Wno-missing-field-initializers>)
  if(CAB_SANITIZE)
    # GCC 12's -Wmaybe-uninitialized misfires on sanitizer-instrumented <regex> code (in Catch2).
    target_compile_options(${target} PRIVATE $<$<COMPILE_LANGUAGE:CXX>:-Wno-maybe-uninitialized>)
  endif()
endfunction()
