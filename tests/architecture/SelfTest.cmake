# CheckLayers.cmake on small fake lib/ trees: a clean one passes, and each forbidden edge
# fails the check with a message naming the file, both layers and the include.
#   cmake -DCHECK=<CheckLayers.cmake> -DWORK_DIR=<scratch folder> -P SelfTest.cmake
cmake_minimum_required(VERSION 3.25)

# Writes `files` (pairs: relative path, text) into a fresh tree and runs the check on it.
function(run_check tree result output)
  set(root "${WORK_DIR}/${tree}")
  file(REMOVE_RECURSE "${root}")
  set(pairs ${ARGN})
  list(LENGTH pairs n)
  math(EXPR last "${n} - 1")
  foreach(i RANGE 0 ${last} 2)
    math(EXPR j "${i} + 1")
    list(GET pairs ${i} path)
    list(GET pairs ${j} text)
    file(WRITE "${root}/${path}" "${text}\n")
  endforeach()
  execute_process(COMMAND ${CMAKE_COMMAND} -DLIB_DIR=${root} -P ${CHECK}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  set(${result} "${rc}" PARENT_SCOPE)
  set(${output} "${out}${err}" PARENT_SCOPE)
endfunction()

set(clean
  core/error.hpp          "#include \"surgeon/surgeon.h\""
  core/matrix.hpp         "#include \"core/error.hpp\"\n#include <vector>"
  layer/quant/rtn.cpp     "#include \"layer/hessian/hessian.hpp\"\n#include \"core/matrix.hpp\""
  layer/solver/solver.cpp "#include \"layer/quant/rtn.hpp\"\n#include \"layer/prune/mask.hpp\""
  nn/model.hpp            "#include \"core/matrix.hpp\""
  io/load.cpp             "#include \"nn/model.hpp\"\n#include \"io/load.hpp\"\n#include \"local.hpp\""
  compress/recipe.cpp     "#include \"io/load.hpp\"\n#include \"structured/spectral.hpp\""
  cli/main.cpp            "#include \"compress/recipe.hpp\"")
run_check(clean rc out ${clean})
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "a clean tree failed the check:\n${out}")
endif()

# name | file | text | the message the check must print
set(cases
  "io_includes_compress|io/load.cpp|#include \"compress/recipe.hpp\"|lib/io/load.cpp: io may not include compress (\"compress/recipe.hpp\")"
  "layer_includes_nn|layer/quant/mixed.cpp|#include \"nn/model.hpp\"|lib/layer/quant/mixed.cpp: layer/quant may not include nn"
  "hessian_includes_solver|layer/hessian/hessian.cpp|  #  include \"layer/solver/solver.hpp\"|lib/layer/hessian/hessian.cpp: layer/hessian may not include layer/solver"
  "core_includes_layer|core/context.cpp|#include \"layer/prune/mask.hpp\"|lib/core/context.cpp: core may not include layer/prune"
  "cli_includes_capi|cli/main.cpp|#include \"capi/guard.hpp\"|lib/cli/main.cpp: cli may not include capi"
  "cli_includes_layer|cli/layer_run.cpp|#include \"layer/solver/solver.hpp\"|lib/cli/layer_run.cpp: cli may not include layer/solver"
  "cli_includes_structured|cli/cmd_structured.cpp|#include \"structured/prunenet.hpp\"|lib/cli/cmd_structured.cpp: cli may not include structured"
  "nn_includes_backend|nn/ops.cpp|#include \"backends/cpu/blas.hpp\"|lib/nn/ops.cpp: nn may not include backends/cpu"
  "unknown_folder|extras/util.cpp|#include \"core/error.hpp\"|folder 'extras' is not in the layer table"
  "unknown_target|io/load.cpp|#include \"model/model.hpp\"|includes \"model/model.hpp\" from 'model', which is no layer")
foreach(c IN LISTS cases)
  string(REPLACE "|" ";" parts "${c}")
  list(GET parts 0 name)
  list(GET parts 1 path)
  list(GET parts 2 text)
  list(GET parts 3 expected)
  run_check(${name} rc out ${clean} ${path} "${text}")
  if(rc EQUAL 0)
    message(FATAL_ERROR "${name}: the check passed a tree with a forbidden edge")
  endif()
  string(FIND "${out}" "${expected}" at)
  if(at EQUAL -1)
    message(FATAL_ERROR "${name}: expected the message\n  ${expected}\ngot:\n${out}")
  endif()
endforeach()
file(REMOVE_RECURSE "${WORK_DIR}")
list(LENGTH cases n)
message(STATUS "CheckLayers self-test: the clean tree passes, ${n} violations are reported")
