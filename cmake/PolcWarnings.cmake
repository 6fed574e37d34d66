# Warning and sanitizer flags shared by every polc target.
add_library(polc_options INTERFACE)
target_compile_options(polc_options INTERFACE -Wall -Wextra -Wno-unused-parameter)
# GCC 12 reports false -Wrestrict positives inside std::string at -O2 (GCC bug 105329).
if(CMAKE_CXX_COMPILER_ID STREQUAL "GNU" AND CMAKE_CXX_COMPILER_VERSION VERSION_LESS 13)
  target_compile_options(polc_options INTERFACE -Wno-restrict)
endif()
if(POLC_WERROR)
  target_compile_options(polc_options INTERFACE -Werror)
endif()
if(POLC_ASAN)
  target_compile_options(polc_options INTERFACE -fsanitize=address -fno-omit-frame-pointer)
  target_link_options(polc_options INTERFACE -fsanitize=address)
endif()
if(POLC_UBSAN)
  target_compile_options(polc_options INTERFACE -fsanitize=undefined -fno-sanitize-recover=undefined)
  target_link_options(polc_options INTERFACE -fsanitize=undefined)
endif()

# Third-party headers (LLVM, clang, ANTLR) are included as SYSTEM so their warnings stay out.
