# Installation: the public header, libsurgeon.so (and libsurgeon.a with SURGEON_STATIC), a
# CMake package (find_package(surgeon CONFIG) -> surgeon::surgeon) and a pkg-config file,
# the `surgeon` CLI and surgeon-bench. Everything is relocatable, so
# `cmake --install build --prefix P` works for any P.
include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

set(SURGEON_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/surgeon)

install(DIRECTORY ${PROJECT_SOURCE_DIR}/include/surgeon
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} COMPONENT dev FILES_MATCHING PATTERN "*.h")

# The shared library links a private OpenBLAS archive (symbols hidden) and exports only the C
# API, so its imported target needs nothing but the include directory.
# The targets already carry $<INSTALL_INTERFACE:include>; a different include dir is added.
set(_includes "")
if(NOT CMAKE_INSTALL_INCLUDEDIR STREQUAL "include")
  set(_includes INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
endif()
install(TARGETS surgeon EXPORT surgeonTargets
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT runtime NAMELINK_COMPONENT dev
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime
  ${_includes})
install(EXPORT surgeonTargets NAMESPACE surgeon:: DESTINATION ${SURGEON_CMAKE_DIR}
        COMPONENT dev)

# The static archive carries C++ objects: its consumers link the OpenBLAS archive
# (libopenblas-dev), gfortran and
# the C++ runtime. Its own export set lets surgeonConfig.cmake look for those only when a
# consumer asks for the `static` component.
if(TARGET surgeon_static)
  set_target_properties(surgeon_static PROPERTIES EXPORT_NAME surgeon_static)
  install(TARGETS surgeon_static EXPORT surgeonStaticTargets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR} COMPONENT dev ${_includes})
  install(EXPORT surgeonStaticTargets NAMESPACE surgeon:: DESTINATION ${SURGEON_CMAKE_DIR}
          COMPONENT dev)
endif()

configure_package_config_file(${CMAKE_CURRENT_LIST_DIR}/surgeonConfig.cmake.in
  ${PROJECT_BINARY_DIR}/surgeonConfig.cmake INSTALL_DESTINATION ${SURGEON_CMAKE_DIR})
# The SONAME carries the major version, so the package promises the same.
write_basic_package_version_file(${PROJECT_BINARY_DIR}/surgeonConfigVersion.cmake
  COMPATIBILITY SameMajorVersion)
install(FILES ${PROJECT_BINARY_DIR}/surgeonConfig.cmake
              ${PROJECT_BINARY_DIR}/surgeonConfigVersion.cmake
        DESTINATION ${SURGEON_CMAKE_DIR} COMPONENT dev)

# pkg-config: the prefix is derived from the .pc file's own location (${pcfiledir}), so the
# file stays right whatever prefix the install step is given.
set(SURGEON_PC_DIR ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(IS_ABSOLUTE "${SURGEON_PC_DIR}")
  set(SURGEON_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH _up "/root/${SURGEON_PC_DIR}" "/root")
  string(REGEX REPLACE "/$" "" _up "${_up}")
  set(SURGEON_PC_PREFIX "\${pcfiledir}/${_up}")
endif()
foreach(_dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${_dir}}")
    set(SURGEON_PC_${_dir} "${CMAKE_INSTALL_${_dir}}")
  else()
    set(SURGEON_PC_${_dir} "\${prefix}/${CMAKE_INSTALL_${_dir}}")
  endif()
endforeach()
# What `pkg-config --static --libs surgeon` adds for libsurgeon.a.
set(SURGEON_PC_STATIC "")
if(TARGET surgeon_static)
  set(_private "${SURGEON_OPENBLAS_ARCHIVE}" -lgfortran -lstdc++ -lm -lpthread)
  list(JOIN _private " " _private)
  string(APPEND SURGEON_PC_STATIC "Libs.private: ${_private}\n")
endif()
configure_file(${CMAKE_CURRENT_LIST_DIR}/surgeon.pc.in ${PROJECT_BINARY_DIR}/surgeon.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/surgeon.pc DESTINATION ${SURGEON_PC_DIR} COMPONENT dev)

# Programs. The CLI links the internal archive; surgeon-bench links libsurgeon.so, found
# next to the binary through a relative RPATH.
if(TARGET surgeon_cli)
  install(TARGETS surgeon_cli RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
endif()
if(TARGET surgeon_bench)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_LIBDIR}")
    set(_rpath "${CMAKE_INSTALL_LIBDIR}")
  else()
    file(RELATIVE_PATH _rpath "/root/${CMAKE_INSTALL_BINDIR}" "/root/${CMAKE_INSTALL_LIBDIR}")
    set(_rpath "\$ORIGIN/${_rpath}")
  endif()
  set_target_properties(surgeon_bench PROPERTIES INSTALL_RPATH "${_rpath}")
  install(TARGETS surgeon_bench RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT runtime)
endif()
