# Embeds a text file as a C++ raw string literal in a generated header (one source of truth:
# the file in the repo; the header is rebuilt from it). Script mode:
#   cmake -DIN=configs/templates.json -DOUT=build/generated/lmm/templates_json.h \
#         -DNAME=kTemplatesJson -DNAMESPACE=himtok::lmm -P cmake/embed_text.cmake
# The delimiter )himtok_embed" must not occur in the file (checked).
foreach(_v IN ITEMS IN OUT NAME NAMESPACE)
  if(NOT DEFINED ${_v})
    message(FATAL_ERROR "embed_text.cmake: -D${_v}=... is required")
  endif()
endforeach()
file(READ "${IN}" _text)
string(FIND "${_text}" ")himtok_embed\"" _bad)
if(NOT _bad EQUAL -1)
  message(FATAL_ERROR "embed_text.cmake: ${IN} contains the raw-string delimiter")
endif()
get_filename_component(_name "${IN}" NAME)
set(_content "// Generated from ${_name} by cmake/embed_text.cmake; do not edit.\n#pragma once\n\nnamespace ${NAMESPACE} {\ninline constexpr const char ${NAME}[] = R\"himtok_embed(${_text})himtok_embed\";\n}  // namespace ${NAMESPACE}\n")
# Write only on change, so dependents do not rebuild needlessly.
if(EXISTS "${OUT}")
  file(READ "${OUT}" _old)
  if(_old STREQUAL _content)
    return()
  endif()
endif()
file(WRITE "${OUT}" "${_content}")
