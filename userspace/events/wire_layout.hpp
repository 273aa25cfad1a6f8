// The wire contract of bpf/include/why502_wire.h, field by field: every
// struct the BPF programs and userspace exchange (ring-buffer events, the
// layouts and latency maps), with the size and offsets of wire version
// W5_WIRE_VERSION. Recordings keep these bytes as they are, so they must not
// move: wire_layout.cpp asserts them at compile time, and a unit test checks
// them against the BPF object's BTF (what clang laid out for the kernel side).
//
// Changing a struct means a new wire version: bump W5_WIRE_VERSION, update
// these numbers, and convert the older version's events where recordings are
// replayed (recording/replay.cpp).
#pragma once

#include <cstddef>
#include <string_view>

#include "why502_wire.h"

namespace why502 {

// S(struct, size in bytes)
#define W5_WIRE_STRUCTS(S) \
  S(w5_addr, 20) \
  S(w5_header, 24) \
  S(w5_upstream_state, 112) \
  S(w5_log_arg, 216) \
  S(w5_ngx_log, 1680) \
  S(w5_ngx_log_repeat, 136) \
  S(w5_ngx_error_page, 600) \
  S(w5_client_response, 80) \
  S(w5_upstream_status, 144) \
  S(w5_sock_evidence, 88) \
  S(w5_process_exec, 48) \
  S(w5_process_fork, 48) \
  S(w5_held_socket, 96) \
  S(w5_signal, 848) \
  S(w5_process_death, 48) \
  S(w5_oom_victim, 32) \
  S(w5_listener_state, 96) \
  S(w5_port_usage, 136) \
  S(w5_socket_file, 320) \
  S(w5_upstream_reuse, 80) \
  S(w5_backend_state, 504) \
  S(w5_process_cgroup, 152) \
  S(w5_in_flight, 40) S(w5_in_flight_set, 160) S(w5_binary_id, 16) \
  S(w5_nginx_layout, 108) \
  S(w5_request_line, 208) \
  S(w5_ngx_location, 176) \
  S(w5_ngx_error_page_target, 56) \
  S(w5_request_ended, 48) \
  S(w5_latency_key, 68) \
  S(w5_latency_histogram, 136) \
  S(w5_layout_health, 24)

// F(struct, field, offset in bytes), in declaration order
#define W5_WIRE_FIELDS(F) \
  F(w5_addr, family, 0) F(w5_addr, port, 2) F(w5_addr, addr, 4) \
  F(w5_header, type, 0) F(w5_header, size, 4) F(w5_header, ts_ns, 8) F(w5_header, tgid, 16) \
  F(w5_header, tid, 20) \
  F(w5_upstream_state, status, 0) F(w5_upstream_state, pad, 4) F(w5_upstream_state, response_ms, 8) \
  F(w5_upstream_state, connect_ms, 16) F(w5_upstream_state, header_ms, 24) \
  F(w5_upstream_state, bytes_received, 32) F(w5_upstream_state, bytes_sent, 40) F(w5_upstream_state, peer, 48) \
  F(w5_ngx_log, h, 0) F(w5_ngx_log, request, 24) F(w5_ngx_log, connection, 32) F(w5_ngx_log, upstream_sk, 40) \
  F(w5_ngx_log, client_sk, 48) F(w5_ngx_log, level, 56) F(w5_ngx_log, err, 60) F(w5_ngx_log, client, 64) \
  F(w5_ngx_log, upstream, 84) F(w5_ngx_log, upstream_local, 104) F(w5_ngx_log, peer, 124) \
  F(w5_ngx_log, fmt, 188) F(w5_ngx_log, action, 252) F(w5_ngx_log, requests, 300) F(w5_ngx_log, pad2, 304) \
  F(w5_ngx_log, n_args, 308) F(w5_ngx_log, fmt_rest, 312) F(w5_ngx_log, args, 376) F(w5_ngx_log, fmt_addr, 1672) \
  F(w5_log_arg, word, 0) F(w5_log_arg, str_len, 8) F(w5_log_arg, readable, 16) F(w5_log_arg, pad, 20) \
  F(w5_log_arg, cstr, 24) F(w5_log_arg, ngx_str, 152) \
  F(w5_ngx_error_page, h, 0) F(w5_ngx_error_page, request, 24) F(w5_ngx_error_page, connection, 32) \
  F(w5_ngx_error_page, client_sk, 40) F(w5_ngx_error_page, status, 48) F(w5_ngx_error_page, n_states, 52) \
  F(w5_ngx_error_page, has_upstream, 56) F(w5_ngx_error_page, requests, 60) F(w5_ngx_error_page, client, 64) \
  F(w5_ngx_error_page, peer, 84) F(w5_ngx_error_page, states, 152) \
  F(w5_client_response, h, 0) F(w5_client_response, sk, 24) F(w5_client_response, status, 32) \
  F(w5_client_response, pad, 36) F(w5_client_response, local, 40) F(w5_client_response, remote, 60) \
  F(w5_upstream_status, h, 0) F(w5_upstream_status, sk, 24) F(w5_upstream_status, status, 32) \
  F(w5_upstream_status, proto, 36) F(w5_upstream_status, local, 40) F(w5_upstream_status, remote, 60) \
  F(w5_upstream_status, unix_path, 80) \
  F(w5_sock_evidence, h, 0) F(w5_sock_evidence, sk, 24) F(w5_sock_evidence, err, 32) \
  F(w5_sock_evidence, state, 36) F(w5_sock_evidence, owner_tgid, 40) F(w5_sock_evidence, server_side, 44) \
  F(w5_sock_evidence, local, 48) F(w5_sock_evidence, remote, 68) \
  F(w5_process_exec, h, 0) F(w5_process_exec, was_traced, 24) F(w5_process_exec, pad, 28) \
  F(w5_process_exec, comm, 32) \
  F(w5_process_fork, h, 0) F(w5_process_fork, parent_tgid, 24) F(w5_process_fork, child_tgid, 28) \
  F(w5_process_fork, comm, 32) \
  F(w5_held_socket, family, 0) F(w5_held_socket, state, 2) F(w5_held_socket, server_side, 4) \
  F(w5_held_socket, local, 8) F(w5_held_socket, remote, 28) F(w5_held_socket, path, 48) \
  F(w5_signal, h, 0) F(w5_signal, sig, 24) F(w5_signal, code, 28) F(w5_signal, target_tgid, 32) \
  F(w5_signal, target_parent_tgid, 36) F(w5_signal, result, 40) F(w5_signal, n_sockets, 44) \
  F(w5_signal, target_comm, 48) F(w5_signal, sender_comm, 64) F(w5_signal, sockets, 80) \
  F(w5_process_death, h, 0) F(w5_process_death, signal, 24) F(w5_process_death, exit_code, 28) \
  F(w5_process_death, comm, 32) \
  F(w5_oom_victim, h, 0) F(w5_oom_victim, pid, 24) F(w5_oom_victim, pad, 28) \
  F(w5_listener_state, h, 0) F(w5_listener_state, addr, 24) F(w5_listener_state, queued, 44) \
  F(w5_listener_state, backlog, 48) F(w5_listener_state, owner_pid, 52) F(w5_listener_state, owners, 56) \
  F(w5_listener_state, fds_open, 60) F(w5_listener_state, fd_limit, 64) \
  F(w5_listener_state, listen_overflows, 72) F(w5_listener_state, owner_comm, 80) \
  F(w5_port_usage, h, 0) F(w5_port_usage, remote, 24) F(w5_port_usage, port_low, 44) F(w5_port_usage, port_high, 48) \
  F(w5_port_usage, established, 52) F(w5_port_usage, time_wait, 56) F(w5_port_usage, other, 60) \
  F(w5_port_usage, flags, 64) F(w5_port_usage, peer, 68) \
  F(w5_socket_file, h, 0) F(w5_socket_file, worker_uid, 24) F(w5_socket_file, worker_gid, 28) \
  F(w5_socket_file, uid, 32) F(w5_socket_file, gid, 36) F(w5_socket_file, mode, 40) F(w5_socket_file, denied, 44) \
  F(w5_socket_file, worker_user, 48) F(w5_socket_file, user, 80) F(w5_socket_file, group, 112) \
  F(w5_socket_file, path, 144) F(w5_socket_file, peer, 256) \
  F(w5_upstream_reuse, h, 0) F(w5_upstream_reuse, request, 24) F(w5_upstream_reuse, connection, 32) \
  F(w5_upstream_reuse, upstream_sk, 40) F(w5_upstream_reuse, upstream_requests, 48) \
  F(w5_upstream_reuse, tcp_state, 52) F(w5_upstream_reuse, hz, 56) F(w5_upstream_reuse, srtt_us, 60) \
  F(w5_upstream_reuse, now_jiffies, 64) F(w5_upstream_reuse, sent_jiffies, 68) \
  F(w5_upstream_reuse, data_in_jiffies, 72) F(w5_upstream_reuse, ack_in_jiffies, 76) \
  F(w5_backend_state, h, 0) F(w5_backend_state, upstream_sk, 24) F(w5_backend_state, upstream, 32) \
  F(w5_backend_state, upstream_local, 52) F(w5_backend_state, found, 72) F(w5_backend_state, pid, 76) \
  F(w5_backend_state, tid, 80) F(w5_backend_state, threads, 84) F(w5_backend_state, comm, 88) \
  F(w5_backend_state, thread_comm, 104) F(w5_backend_state, state, 120) F(w5_backend_state, syscall_nr, 124) \
  F(w5_backend_state, syscall_name, 128) F(w5_backend_state, wait_kind, 144) F(w5_backend_state, wait_fd, 148) \
  F(w5_backend_state, wait_local, 152) F(w5_backend_state, wait_remote, 172) \
  F(w5_backend_state, wait_listener_pid, 192) F(w5_backend_state, wait_server_side, 196) \
  F(w5_backend_state, wait_listener_comm, 200) F(w5_backend_state, wait_path, 216) \
  F(w5_backend_state, sample_ns, 280) F(w5_backend_state, run_ns, 288) F(w5_backend_state, runqueue_ns, 296) \
  F(w5_backend_state, periods, 304) F(w5_backend_state, throttled_periods, 312) \
  F(w5_backend_state, throttled_ns, 320) F(w5_backend_state, total_periods, 328) \
  F(w5_backend_state, total_throttled_periods, 336) F(w5_backend_state, total_throttled_ns, 344) \
  F(w5_backend_state, quota_us, 352) F(w5_backend_state, period_us, 360) F(w5_backend_state, cgroup, 368) \
  F(w5_backend_state, unix_connections, 496) F(w5_backend_state, sample_in_wait, 500) \
  F(w5_process_cgroup, h, 0) F(w5_process_cgroup, cgroup, 24) \
  F(w5_in_flight, sk, 0) F(w5_in_flight, identity, 8) F(w5_in_flight, sent_ns, 16) F(w5_in_flight, proto, 24) \
  F(w5_in_flight, tgid, 28) F(w5_in_flight, latency_id, 32) F(w5_in_flight, stderr_left, 36) F(w5_in_flight_set, way, 0) \
  F(w5_binary_id, dev, 0) F(w5_binary_id, ino, 8) \
  F(w5_nginx_layout, r_connection, 0) F(w5_nginx_layout, r_upstream, 4) \
  F(w5_nginx_layout, r_upstream_states, 8) F(w5_nginx_layout, c_fd, 12) F(w5_nginx_layout, c_log, 16) \
  F(w5_nginx_layout, c_sockaddr, 20) F(w5_nginx_layout, log_connection, 24) F(w5_nginx_layout, log_data, 28) \
  F(w5_nginx_layout, log_action, 32) F(w5_nginx_layout, ctx_current_request, 36) F(w5_nginx_layout, u_peer, 40) \
  F(w5_nginx_layout, pc_connection, 44) F(w5_nginx_layout, pc_name, 48) F(w5_nginx_layout, state_size, 52) \
  F(w5_nginx_layout, state_status, 56) F(w5_nginx_layout, state_response_time, 60) \
  F(w5_nginx_layout, state_connect_time, 64) F(w5_nginx_layout, state_header_time, 68) \
  F(w5_nginx_layout, state_bytes_received, 72) F(w5_nginx_layout, state_bytes_sent, 76) \
  F(w5_nginx_layout, state_peer, 80) F(w5_nginx_layout, ctx_request, 84) F(w5_nginx_layout, r_request_line, 88) \
  F(w5_nginx_layout, c_number, 92) F(w5_nginx_layout, c_requests, 96) F(w5_nginx_layout, r_loc_conf, 100) \
  F(w5_nginx_layout, clcf_error_pages, 104) \
  F(w5_request_line, h, 0) F(w5_request_line, request, 24) F(w5_request_line, connection, 32) \
  F(w5_request_line, len, 40) F(w5_request_line, pad, 44) F(w5_request_line, line, 48) \
  F(w5_ngx_location, h, 0) F(w5_ngx_location, request, 24) F(w5_ngx_location, connection, 32) \
  F(w5_ngx_location, len, 40) F(w5_ngx_location, pad, 44) F(w5_ngx_location, name, 48) \
  F(w5_ngx_error_page_target, h, 0) F(w5_ngx_error_page_target, request, 24) \
  F(w5_ngx_error_page_target, connection, 32) F(w5_ngx_error_page_target, status, 40) \
  F(w5_ngx_error_page_target, overwrite, 44) F(w5_ngx_error_page_target, target, 48) \
  F(w5_ngx_error_page_target, pad, 52) \
  F(w5_ngx_log_repeat, h, 0) F(w5_ngx_log_repeat, template_ts, 24) F(w5_ngx_log_repeat, request, 32) \
  F(w5_ngx_log_repeat, connection, 40) F(w5_ngx_log_repeat, upstream_sk, 48) F(w5_ngx_log_repeat, client_sk, 56) \
  F(w5_ngx_log_repeat, requests, 64) F(w5_ngx_log_repeat, pad, 68) F(w5_ngx_log_repeat, client, 72) \
  F(w5_ngx_log_repeat, upstream, 92) F(w5_ngx_log_repeat, upstream_local, 112) \
  F(w5_request_ended, h, 0) F(w5_request_ended, request, 24) F(w5_request_ended, connection, 32) \
  F(w5_request_ended, requests, 40) F(w5_request_ended, pad, 44) \
  F(w5_latency_key, upstream, 0) F(w5_latency_key, unix_path, 20) \
  F(w5_latency_histogram, buckets, 0) F(w5_latency_histogram, sum_ns, 128) \
  F(w5_layout_health, read_failures, 0) F(w5_layout_health, checked, 8) F(w5_layout_health, failed, 16) \
  F(w5_layout_health, seen_state_size, 20)

struct WireField {
  std::string_view struct_name;
  std::string_view name;
  size_t offset;  // as this compiler lays it out
  size_t size;
};

struct WireStruct {
  std::string_view name;
  size_t size;  // as this compiler lays it out
};

#define W5_WIRE_FIELD_ENTRY(s, f, offset) WireField{#s, #f, offsetof(s, f), sizeof(s::f)},
inline constexpr WireField kWireFields[] = {W5_WIRE_FIELDS(W5_WIRE_FIELD_ENTRY)};
#undef W5_WIRE_FIELD_ENTRY

#define W5_WIRE_STRUCT_ENTRY(s, size) WireStruct{#s, sizeof(s)},
inline constexpr WireStruct kWireStructs[] = {W5_WIRE_STRUCTS(W5_WIRE_STRUCT_ENTRY)};
#undef W5_WIRE_STRUCT_ENTRY

}  // namespace why502
