// Is the process in an attacher slot still alive?
//
// Regions with a file in home: each attacher holds an OFD write lock (F_OFD_SETLK) on one
// byte of that file, at slot_lock_offset(slot). The kernel drops it when the process dies
// however it dies, it does not depend on pids (so pid reuse and PID namespaces cannot fool
// it), and OFD locks belong to the open file description, so two attaches in one process
// are two independent attachers (classic fcntl locks are per process and would merge
// them). This is LMDB's reader-slot idea.
// Regions without a file (anonymous, heap): pid plus process start time, which survives
// pid reuse; a slot from another PID namespace cannot be checked and counts as alive.
#pragma once

#include "format/header.hpp"

#include <chrono>
#include <cstdint>
#include <optional>
#include <filesystem>

namespace shmregion::detail {

/// Takes the slot's liveness lock on fd. Returns false if another open file description
/// holds it (the slot's owner is alive); throws Failure on other errors.
bool slot_lock_acquire(int fd, std::uint32_t slot);
/// True if some other open file description holds the slot's lock. Writes nothing.
bool slot_lock_held(int fd, std::uint32_t slot) noexcept;

/// Presence: every attacher of a region with a file holds a shared OFD lock on the byte
/// at kPresenceLockOffset of that file for as long as it is attached. Taking it
/// exclusively (never blocking) tells a joiner it is alone. presence_share() takes it
/// shared, waiting while a lone joiner finishes its checks; it converts an exclusive lock
/// of the same open file description atomically.
bool presence_try_exclusive(int fd);
/// Waits until `deadline` (CLOCK_MONOTONIC) if given, else without a bound; lock_timeout.
void presence_share(int fd, const std::filesystem::path& file,
                    std::optional<std::chrono::steady_clock::time_point> deadline);
/// Drops this attacher's slot lock and presence lock (detach).
void release_attacher_locks(int fd, std::uint32_t slot) noexcept;

/// Liveness of an in-use slot. lock_fd < 0 means "no file": use pid and start time.
bool slot_alive(const AttacherSlot& s, std::uint32_t slot, int lock_fd) noexcept;

/// Fills a slot for the calling process (state last).
void slot_fill_self(AttacherSlot& s) noexcept;

}  // namespace shmregion::detail
