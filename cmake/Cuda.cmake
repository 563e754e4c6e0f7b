# MANTISSA_CUDA=AUTO builds the CUDA backend (cuBLASLt, cuDNN) whenever nvcc is found; ON requires it.
include(CheckLanguage)
set(MANTISSA_HAS_CUDA OFF)
if(NOT MANTISSA_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    set(MANTISSA_HAS_CUDA ON)
  elseif(MANTISSA_CUDA STREQUAL "ON")
    message(FATAL_ERROR "mantissa: MANTISSA_CUDA=ON but nvcc was not found")
  endif()
endif()
mantissa_report("CUDA backend (nvcc)" "${MANTISSA_HAS_CUDA}" "${CMAKE_CUDA_COMPILER}")

if(MANTISSA_HAS_CUDA)
  # Users get all three; CI builds one (CUDAARCHS, CMake's own variable for this) to save time.
  if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
    if(DEFINED ENV{CUDAARCHS})
      set(CMAKE_CUDA_ARCHITECTURES $ENV{CUDAARCHS})
    else()
      set(CMAKE_CUDA_ARCHITECTURES 80;89;90)
    endif()
  endif()
  enable_language(CUDA)
  find_package(CUDAToolkit REQUIRED)
  # Every cuda/ folder: core's backend (core/cuda/) and the fused kernels optim/ and precision/
  # own (optim/kernels/cuda/, precision/kernels/cuda/).
  file(GLOB_RECURSE MANTISSA_CUDA_SOURCES RELATIVE ${CMAKE_CURRENT_SOURCE_DIR} CONFIGURE_DEPENDS
       core/*.cu core/*.cpp optim/*.cu optim/*.cpp precision/*.cu precision/*.cpp)
  list(FILTER MANTISSA_CUDA_SOURCES INCLUDE REGEX "/cuda/")
  target_sources(mantissa PRIVATE ${MANTISSA_CUDA_SOURCES})
  # The optimizer updates without FMA contraction, as on the CPU (CMakeLists.txt says why).
  set_source_files_properties(optim/kernels/cuda/update_kernels.cu precision/kernels/cuda/flash_kernels.cu
                              precision/kernels/cuda/block_quantize_kernels.cu PROPERTIES COMPILE_OPTIONS --fmad=false)
  # CMake 3.25 does not know nvcc 13's C++20 flag; it is told here, so CUDA_STANDARD 20 adds
  # exactly one -std (nvcc obeys the last of several, which once left the .cu files in C++17).
  set(CMAKE_CUDA20_STANDARD_COMPILE_OPTION "-std=c++20")
  set(CMAKE_CUDA20_EXTENSION_COMPILE_OPTION "-std=c++20")
  set_target_properties(mantissa PROPERTIES CUDA_ARCHITECTURES "${CMAKE_CUDA_ARCHITECTURES}" CUDA_STANDARD 20)
  # The .cu files hold kernels only and include no host-side headers (fmt, tensors): nvcc's
  # C++20 front end cannot compile fmt 9. The host side is the cuda/ folders' .cpp files.
  # cuDNN ships with the toolkit on our machines; elsewhere CUDNN_ROOT names its prefix, such as
  # the nvidia-cudnn pip wheel's folder, whose library has only its versioned name.
  find_path(MANTISSA_CUDNN_INCLUDE_DIR cudnn_graph.h HINTS ${CUDNN_ROOT} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
  find_library(MANTISSA_CUDNN_LIBRARY NAMES cudnn libcudnn.so.9 HINTS ${CUDNN_ROOT} ${CUDAToolkit_LIBRARY_DIR}
               PATH_SUFFIXES lib64 lib)
  if(NOT MANTISSA_CUDNN_INCLUDE_DIR OR NOT MANTISSA_CUDNN_LIBRARY)
    message(FATAL_ERROR "mantissa: the CUDA backend needs cuDNN 9 (cudnn_graph.h, libcudnn); set CUDNN_ROOT to "
                        "its prefix, or configure with -DMANTISSA_CUDA=OFF")
  endif()
  mantissa_report("cuDNN" ON "${MANTISSA_CUDNN_LIBRARY}")
  target_include_directories(mantissa PRIVATE ${MANTISSA_CUDNN_INCLUDE_DIR})
  target_link_libraries(mantissa PUBLIC CUDA::cudart CUDA::cublasLt ${MANTISSA_CUDNN_LIBRARY})
  target_compile_definitions(mantissa PUBLIC MANTISSA_WITH_CUDA=1)

  # NCCL moves CUDA tensors between ranks (distributed/cuda/). Optional: without it a world of
  # one process still serves CUDA tensors.
  find_path(MANTISSA_NCCL_INCLUDE_DIR nccl.h HINTS ${NCCL_ROOT} ${CUDAToolkit_INCLUDE_DIRS} PATH_SUFFIXES include)
  find_library(MANTISSA_NCCL_LIBRARY NAMES nccl libnccl.so.2 HINTS ${NCCL_ROOT} ${CUDAToolkit_LIBRARY_DIR}
               PATH_SUFFIXES lib64 lib)
  if(MANTISSA_NCCL_INCLUDE_DIR AND MANTISSA_NCCL_LIBRARY)
    mantissa_report("NCCL (distributed, CUDA tensors)" ON "${MANTISSA_NCCL_LIBRARY}")
    file(GLOB MANTISSA_NCCL_SOURCES CONFIGURE_DEPENDS distributed/cuda/*.cpp)
    target_sources(mantissa PRIVATE ${MANTISSA_NCCL_SOURCES})
    target_include_directories(mantissa PRIVATE ${MANTISSA_NCCL_INCLUDE_DIR})
    target_link_libraries(mantissa PUBLIC ${MANTISSA_NCCL_LIBRARY})
    target_compile_definitions(mantissa PRIVATE MANTISSA_WITH_NCCL=1)
  else()
    mantissa_report("NCCL (distributed, CUDA tensors)" OFF "(set NCCL_ROOT to its prefix)")
  endif()
endif()
