# Finds every dependency and reports each one at configure time, found or missing.
# scripts/setup.sh installs the Debian packages that provide them.

function(mantissa_report name found detail)
  if(found)
    message(STATUS "mantissa: ${name}: found ${detail}")
  else()
    message(STATUS "mantissa: ${name}: MISSING ${detail}")
  endif()
endfunction()

find_package(fmt CONFIG QUIET)
mantissa_report("fmt" "${fmt_FOUND}" "${fmt_VERSION}")
find_package(dnnl CONFIG QUIET)
mantissa_report("oneDNN (CPU GEMM)" "${dnnl_FOUND}" "${dnnl_VERSION}")
find_package(OpenMP QUIET)
mantissa_report("OpenMP" "${OpenMP_CXX_FOUND}" "${OpenMP_CXX_VERSION}")

find_package(nlohmann_json CONFIG QUIET)
mantissa_report("nlohmann-json (safetensors headers, JSONL)" "${nlohmann_json_FOUND}" "${nlohmann_json_VERSION}")

# Optional: without MPI the library builds and distributed/ serves a world of one process.
find_package(MPI QUIET COMPONENTS CXX)
mantissa_report("MPI (distributed, CPU tensors)" "${MPI_CXX_FOUND}" "${MPI_CXX_VERSION} ${MPIEXEC_EXECUTABLE}")

if(NOT fmt_FOUND OR NOT dnnl_FOUND OR NOT OpenMP_CXX_FOUND OR NOT nlohmann_json_FOUND)
  message(FATAL_ERROR "mantissa: required dependencies are missing; run scripts/setup.sh")
endif()

if(MANTISSA_BUILD_TESTS)
  find_package(GTest QUIET)
  mantissa_report("GoogleTest" "${GTest_FOUND}" "${GTest_VERSION}")
  if(NOT GTest_FOUND)
    message(FATAL_ERROR "mantissa: GoogleTest is missing; run scripts/setup.sh")
  endif()
endif()

if(MANTISSA_BUILD_EXAMPLES)
  find_package(CLI11 CONFIG QUIET)
  mantissa_report("CLI11 (example command lines)" "${CLI11_FOUND}" "${CLI11_VERSION}")
  # Found by its header and library rather than pkg-config, whose .pc files name absolute
  # paths: this way a prefix of unpacked packages (CMAKE_PREFIX_PATH, scripts/gpu_check.sh)
  # serves as well as /usr.
  find_path(MANTISSA_PCRE2_INCLUDE_DIR pcre2.h)
  find_library(MANTISSA_PCRE2_LIBRARY pcre2-8)
  if(MANTISSA_PCRE2_INCLUDE_DIR AND MANTISSA_PCRE2_LIBRARY)
    set(PCRE2_FOUND TRUE)
    add_library(mantissa_pcre2 INTERFACE IMPORTED)
    target_include_directories(mantissa_pcre2 INTERFACE ${MANTISSA_PCRE2_INCLUDE_DIR})
    target_link_libraries(mantissa_pcre2 INTERFACE ${MANTISSA_PCRE2_LIBRARY})
  endif()
  mantissa_report("PCRE2 (GPT-2 pre-tokenizer)" "${PCRE2_FOUND}" "${MANTISSA_PCRE2_LIBRARY}")
  if(NOT CLI11_FOUND OR NOT PCRE2_FOUND)
    message(FATAL_ERROR "mantissa: the examples need CLI11 and PCRE2; run scripts/setup.sh "
                        "or configure with -DMANTISSA_BUILD_EXAMPLES=OFF")
  endif()
  if(MANTISSA_BUILD_ASR)
    # The ASR example's audio: libsndfile (reading), libsamplerate (resampling), kissfft's
    # float real FFT. Found like PCRE2, by header and library.
    set(MANTISSA_AUDIO_FOUND TRUE)
    foreach(lib sndfile samplerate kissfft-float)
      string(MAKE_C_IDENTIFIER ${lib} id)
      find_library(MANTISSA_${id}_LIBRARY ${lib})
      if(NOT MANTISSA_${id}_LIBRARY)
        set(MANTISSA_AUDIO_FOUND FALSE)
      endif()
      list(APPEND MANTISSA_AUDIO_LIBRARIES ${MANTISSA_${id}_LIBRARY})
    endforeach()
    find_path(MANTISSA_SNDFILE_INCLUDE_DIR sndfile.h)
    find_path(MANTISSA_SAMPLERATE_INCLUDE_DIR samplerate.h)
    find_path(MANTISSA_KISSFFT_INCLUDE_DIR kiss_fftr.h PATH_SUFFIXES kissfft)
    if(NOT MANTISSA_SNDFILE_INCLUDE_DIR OR NOT MANTISSA_SAMPLERATE_INCLUDE_DIR OR NOT MANTISSA_KISSFFT_INCLUDE_DIR)
      set(MANTISSA_AUDIO_FOUND FALSE)
    endif()
    mantissa_report("libsndfile, libsamplerate, kissfft (ASR example)" "${MANTISSA_AUDIO_FOUND}" "${MANTISSA_AUDIO_LIBRARIES}")
    if(NOT MANTISSA_AUDIO_FOUND)
      message(FATAL_ERROR "mantissa: the ASR example needs libsndfile, libsamplerate and kissfft; run "
                          "scripts/setup.sh or configure with -DMANTISSA_BUILD_ASR=OFF")
    endif()
    add_library(mantissa_audio INTERFACE IMPORTED)
    target_include_directories(mantissa_audio INTERFACE ${MANTISSA_SNDFILE_INCLUDE_DIR}
                               ${MANTISSA_SAMPLERATE_INCLUDE_DIR} ${MANTISSA_KISSFFT_INCLUDE_DIR})
    # kissfft's headers take their scalar type from this macro; the Debian library is float.
    target_compile_definitions(mantissa_audio INTERFACE kiss_fft_scalar=float)
    target_link_libraries(mantissa_audio INTERFACE ${MANTISSA_AUDIO_LIBRARIES})
  endif()
endif()

# The CUDA headers' host-callable conversions are the reference for our scalar formats;
# the conversion test uses them whenever the toolkit is present, with or without a GPU.
find_path(MANTISSA_CUDA_FP_HEADERS cuda_fp8.h
  HINTS /usr/local/cuda/include ENV CUDA_HOME PATH_SUFFIXES include)
if(MANTISSA_CUDA_FP_HEADERS)
  mantissa_report("CUDA format headers (conversion reference)" TRUE "${MANTISSA_CUDA_FP_HEADERS}")
else()
  mantissa_report("CUDA format headers (conversion reference)" FALSE "(conversion test compares with golden values only)")
endif()
