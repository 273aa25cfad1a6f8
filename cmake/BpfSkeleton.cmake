# why502_bpf_skeleton(<target> <source.bpf.c>)
# Compiles one BPF C file with clang (CO-RE, BTF) and generates its libbpf
# skeleton header with bpftool; <target> is an INTERFACE library whose include
# directory holds <name>.skel.h.
find_program(CLANG_BPF NAMES clang-14 clang REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /usr/local/sbin REQUIRED)

function(why502_bpf_skeleton target source)
  get_filename_component(name ${source} NAME_WE)
  set(out_dir ${CMAKE_CURRENT_BINARY_DIR}/bpf)
  set(object ${out_dir}/${name}.bpf.o)
  set(skeleton ${out_dir}/${name}.skel.h)
  file(GLOB bpf_headers CONFIGURE_DEPENDS ${CMAKE_SOURCE_DIR}/bpf/parts/*.bpf.c ${CMAKE_SOURCE_DIR}/bpf/include/*.h)
  add_custom_command(
    OUTPUT ${object}
    COMMAND ${CMAKE_COMMAND} -E make_directory ${out_dir}
    COMMAND ${CLANG_BPF} -g -O2 -mcpu=v3 -Wall -target bpf -D__TARGET_ARCH_x86
            -I${CMAKE_SOURCE_DIR}/bpf/include -I${CMAKE_SOURCE_DIR}/vmlinux
            -c ${source} -o ${object}
    DEPENDS ${source} ${bpf_headers} ${CMAKE_SOURCE_DIR}/vmlinux/vmlinux.h
    COMMENT "BPF ${name}.bpf.c"
    VERBATIM)
  add_custom_command(
    OUTPUT ${skeleton}
    COMMAND sh -c "${BPFTOOL} gen skeleton ${object} name ${name}_bpf > ${skeleton}.tmp && mv ${skeleton}.tmp ${skeleton}"
    DEPENDS ${object}
    COMMENT "skeleton ${name}.skel.h"
    VERBATIM)
  add_custom_target(${target}_gen DEPENDS ${skeleton})
  add_library(${target} INTERFACE)
  add_dependencies(${target} ${target}_gen)
  target_include_directories(${target} INTERFACE ${out_dir})
endfunction()
