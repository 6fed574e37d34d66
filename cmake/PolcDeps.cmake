# Finds every third-party dependency; each failure names the Debian package to install.
# scripts/setup.sh installs all of them.

include(FindPkgConfig)

macro(polc_require found what package)
  if(NOT ${found})
    message(FATAL_ERROR "polc needs ${what}: install the Debian package '${package}' "
                        "(or run scripts/setup.sh, which installs everything)")
  endif()
endmacro()

find_package(PkgConfig)
polc_require(PKG_CONFIG_FOUND "pkg-config" "pkg-config")

# yaml-cpp
find_package(yaml-cpp QUIET)
polc_require(yaml-cpp_FOUND "yaml-cpp" "libyaml-cpp-dev")

# Z3
find_package(Z3 QUIET CONFIG)
if(NOT Z3_FOUND)
  find_path(Z3_INCLUDE_DIR z3++.h)
  find_library(Z3_LIBRARY z3)
  if(Z3_INCLUDE_DIR AND Z3_LIBRARY)
    set(Z3_FOUND TRUE)
  endif()
endif()
polc_require(Z3_FOUND "the Z3 C++ API" "libz3-dev")
if(NOT TARGET polc::z3)
  add_library(polc::z3 INTERFACE IMPORTED)
  if(TARGET z3::libz3)
    target_link_libraries(polc::z3 INTERFACE z3::libz3)
  else()
    target_include_directories(polc::z3 SYSTEM INTERFACE ${Z3_INCLUDE_DIR})
    target_link_libraries(polc::z3 INTERFACE ${Z3_LIBRARY})
  endif()
endif()

# ANTLR4: the C++ runtime and the tool that generates parsers at build time.
find_path(ANTLR4_INCLUDE_DIR antlr4-runtime.h PATH_SUFFIXES antlr4-runtime)
find_library(ANTLR4_LIBRARY antlr4-runtime)
if(ANTLR4_INCLUDE_DIR AND ANTLR4_LIBRARY)
  set(ANTLR4_RUNTIME_FOUND TRUE)
endif()
polc_require(ANTLR4_RUNTIME_FOUND "the ANTLR4 C++ runtime" "libantlr4-runtime-dev")
find_program(ANTLR4_TOOL antlr4)
polc_require(ANTLR4_TOOL "the antlr4 parser generator" "antlr4")
add_library(polc::antlr4 INTERFACE IMPORTED)
target_include_directories(polc::antlr4 SYSTEM INTERFACE ${ANTLR4_INCLUDE_DIR})
target_link_libraries(polc::antlr4 INTERFACE ${ANTLR4_LIBRARY})

# polc_antlr_generate(<out-var> <name> <namespace> <grammar.g4>...): generate C++ lexer/parser
# sources at build time into one directory (so a parser grammar finds its lexer's tokens).
# Sets <out-var> to the generated .cpp files and <out-var>_DIR to their directory.
function(polc_antlr_generate out_var name namespace)
  set(outdir ${CMAKE_CURRENT_BINARY_DIR}/antlr/${name})
  set(srcs)
  foreach(g ${ARGN})
    get_filename_component(base ${g} NAME_WE)
    if(base MATCHES "Lexer$")
      list(APPEND srcs ${outdir}/${base}.cpp)
    elseif(base MATCHES "Parser$")
      list(APPEND srcs ${outdir}/${base}.cpp)
    else()
      list(APPEND srcs ${outdir}/${base}Lexer.cpp ${outdir}/${base}Parser.cpp)
    endif()
  endforeach()
  add_custom_command(
    OUTPUT ${srcs}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${outdir}
    COMMAND ${ANTLR4_TOOL} -Dlanguage=Cpp -no-listener -no-visitor -package ${namespace}
            -o ${outdir} -Xexact-output-dir -lib ${outdir} ${ARGN}
    DEPENDS ${ARGN}
    COMMENT "Generating ${name} with ANTLR4"
    VERBATIM)
  set(${out_var} ${srcs} PARENT_SCOPE)
  set(${out_var}_DIR ${outdir} PARENT_SCOPE)
endfunction()

# LLVM 14 with the BPF target, and clang's C++ libraries (in-process C -> BPF compilation).
find_package(LLVM 14 QUIET CONFIG HINTS /usr/lib/llvm-14/lib/cmake/llvm)
polc_require(LLVM_FOUND "LLVM 14 libraries" "llvm-14-dev")
if(NOT "BPF" IN_LIST LLVM_TARGETS_TO_BUILD)
  message(FATAL_ERROR "polc needs an LLVM built with the BPF target (Debian's llvm-14-dev has it)")
endif()
find_package(Clang QUIET CONFIG HINTS /usr/lib/llvm-14/lib/cmake/clang)
if(NOT Clang_FOUND OR NOT TARGET clang-cpp)
  set(Clang_FOUND FALSE)
endif()
polc_require(Clang_FOUND "clang C++ libraries (libclang-cpp)" "libclang-cpp14-dev")
add_library(polc::llvm INTERFACE IMPORTED)
target_include_directories(polc::llvm SYSTEM INTERFACE ${LLVM_INCLUDE_DIRS})
target_compile_definitions(polc::llvm INTERFACE ${LLVM_DEFINITIONS})
target_link_libraries(polc::llvm INTERFACE clang-cpp LLVM)
set(POLC_CLANG_RESOURCE_DIR ${LLVM_LIBRARY_DIR}/clang/${LLVM_PACKAGE_VERSION})

# libbpf (loading/attaching) and libelf.
pkg_check_modules(LIBBPF QUIET IMPORTED_TARGET libbpf)
polc_require(LIBBPF_FOUND "libbpf" "libbpf-dev")

# Small header/shared libraries.
find_package(CLI11 QUIET CONFIG)
if(NOT CLI11_FOUND)
  find_path(CLI11_INCLUDE_DIR CLI/CLI.hpp)
  if(CLI11_INCLUDE_DIR)
    set(CLI11_FOUND TRUE)
    add_library(CLI11::CLI11 INTERFACE IMPORTED)
    target_include_directories(CLI11::CLI11 SYSTEM INTERFACE ${CLI11_INCLUDE_DIR})
  endif()
endif()
polc_require(CLI11_FOUND "CLI11" "libcli11-dev")

find_package(nlohmann_json 3 QUIET CONFIG)
polc_require(nlohmann_json_FOUND "nlohmann-json" "nlohmann-json3-dev")

find_package(fmt QUIET CONFIG)
polc_require(fmt_FOUND "fmt" "libfmt-dev")

if(POLC_BUILD_TESTS)
  find_package(GTest QUIET)
  polc_require(GTest_FOUND "GoogleTest" "libgtest-dev")
endif()
