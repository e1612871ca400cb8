# Finds every external library once; each is used by exactly one module of ours.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)
find_package(OpenMP REQUIRED)            # before faiss (Debian's faiss links libgomp)
find_package(ZLIB REQUIRED)
find_library(MATH_LIB m)

# OpenBLAS: the OpenMP build, by path (the pthread build fights libgomp on 2 cores).
find_library(DML_OPENBLAS openblas
  PATHS /usr/lib/x86_64-linux-gnu/openblas-openmp /usr/lib/aarch64-linux-gnu/openblas-openmp
  NO_DEFAULT_PATH)
if(NOT DML_OPENBLAS)
  message(FATAL_ERROR "OpenMP OpenBLAS not found: run scripts/install-deps (libopenblas-openmp-dev)")
endif()
find_path(DML_CBLAS_INCLUDE cblas.h PATHS /usr/include/x86_64-linux-gnu/openblas-openmp /usr/include/openblas)

# HDF5 (serial, C API)
find_package(HDF5 REQUIRED COMPONENTS C)

# faiss (static, CPU) + LAPACK
find_package(faiss CONFIG QUIET)
if(NOT faiss_FOUND)
  find_library(DML_FAISS faiss REQUIRED)
  find_path(DML_FAISS_INCLUDE faiss/IndexFlat.h REQUIRED)
  add_library(faiss UNKNOWN IMPORTED)
  set_target_properties(faiss PROPERTIES IMPORTED_LOCATION ${DML_FAISS}
                        INTERFACE_INCLUDE_DIRECTORIES ${DML_FAISS_INCLUDE})
endif()
find_package(LAPACK REQUIRED)

# oneDNN 2.x (find by path: Debian's config file wants OpenCL)
find_path(DML_DNNL_INCLUDE oneapi/dnnl/dnnl.h)
find_library(DML_DNNL dnnl)
if(NOT DML_DNNL_INCLUDE OR NOT DML_DNNL)
  message(FATAL_ERROR "oneDNN not found: run scripts/install-deps (libdnnl-dev)")
endif()

pkg_check_modules(JANSSON REQUIRED IMPORTED_TARGET jansson)
find_package(CURL REQUIRED)
find_package(PNG REQUIRED)
find_package(JPEG REQUIRED)
find_program(DML_GNUPLOT gnuplot)
find_program(DML_PDFLATEX pdflatex)
find_program(DML_PYTHON3_SYSTEM python3 PATHS /usr/bin NO_DEFAULT_PATH)

# CUDA: AUTO uses it when a toolkit is found; ON requires it; OFF skips it.
set(DML_HAVE_CUDA OFF)
if(NOT DML_CUDA STREQUAL "OFF")
  if(NOT CMAKE_CUDA_COMPILER AND EXISTS /usr/local/cuda/bin/nvcc)
    set(CMAKE_CUDA_COMPILER /usr/local/cuda/bin/nvcc)
  endif()
  include(CheckLanguage)
  check_language(CUDA)
  if(CMAKE_CUDA_COMPILER)
    if(NOT DEFINED CMAKE_CUDA_ARCHITECTURES)
      set(CMAKE_CUDA_ARCHITECTURES "80;90")   # 'native' fails on machines without a GPU
    endif()
    enable_language(CUDA)
    find_package(CUDAToolkit REQUIRED)
    find_library(DML_CUDNN cudnn PATHS ${CUDAToolkit_LIBRARY_DIR} /usr/local/cuda/lib64 /usr/lib/x86_64-linux-gnu)
    if(DML_CUDNN)
      set(DML_HAVE_CUDA ON)
    elseif(DML_CUDA STREQUAL "ON")
      message(FATAL_ERROR "DML_CUDA=ON but cuDNN was not found; build CPU-only with -DDML_CUDA=OFF")
    endif()
  elseif(DML_CUDA STREQUAL "ON")
    message(FATAL_ERROR "DML_CUDA=ON but no CUDA compiler was found; build CPU-only with -DDML_CUDA=OFF")
  endif()
endif()
