# `cmake --install` puts the headers under include/mantissa/, the library (static, or shared
# with BUILD_SHARED_LIBS=ON) under lib/, and a package config under lib/cmake/mantissa/, so a
# downstream project writes
#   find_package(mantissa CONFIG REQUIRED)
#   target_link_libraries(app PRIVATE mantissa::mantissa)
# The config finds the dependencies the target carries (fmt, OpenMP; oneDNN and nlohmann-json,
# which a static library's consumers link too; the CUDA toolkit when built with it).
include(CMakePackageConfigHelpers)

set(MANTISSA_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/mantissa)
# A shared library's ABI may change with every minor version while the project is young.
set_target_properties(mantissa PROPERTIES VERSION ${PROJECT_VERSION}
                                          SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})

install(TARGETS mantissa EXPORT mantissaTargets
        ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
        LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
        RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
foreach(layer core autograd nn optim precision distributed train)
  if(EXISTS ${CMAKE_CURRENT_SOURCE_DIR}/${layer})
    install(DIRECTORY ${layer} DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mantissa
            FILES_MATCHING PATTERN "*.h" PATTERN "*.cuh")
  endif()
endforeach()
install(FILES mantissa.h DESTINATION ${CMAKE_INSTALL_INCLUDEDIR}/mantissa)
install(FILES LICENSE CREDITS.md DESTINATION ${CMAKE_INSTALL_DATADIR}/doc/mantissa)

install(EXPORT mantissaTargets NAMESPACE mantissa:: DESTINATION ${MANTISSA_CMAKE_DIR})
configure_package_config_file(cmake/mantissaConfig.cmake.in ${CMAKE_CURRENT_BINARY_DIR}/mantissaConfig.cmake
                              INSTALL_DESTINATION ${MANTISSA_CMAKE_DIR})
# Minor versions may change the API while the project is young.
write_basic_package_version_file(${CMAKE_CURRENT_BINARY_DIR}/mantissaConfigVersion.cmake
                                 COMPATIBILITY SameMinorVersion)
install(FILES ${CMAKE_CURRENT_BINARY_DIR}/mantissaConfig.cmake ${CMAKE_CURRENT_BINARY_DIR}/mantissaConfigVersion.cmake
        DESTINATION ${MANTISSA_CMAKE_DIR})
