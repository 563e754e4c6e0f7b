#include <mantissa/core/caching_allocator.h>

#include <fmt/format.h>

#include <algorithm>
#include <bit>

#include <mantissa/core/error.h>

namespace mantissa {

std::string format_bytes(size_t bytes) {
  static constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB"};
  double value = static_cast<double>(bytes);
  size_t unit = 0;
  while (value >= 1024.0 && unit + 1 < std::size(kUnits)) {
    value /= 1024.0;
    ++unit;
  }
  return unit == 0 ? fmt::format("{} B", bytes) : fmt::format("{:.2f} {}", value, kUnits[unit]);
}

size_t CachingAllocator::size_class(size_t nbytes, size_t min_cached) {
  const size_t aligned = (std::max<size_t>(nbytes, 1) + 63) / 64 * 64;
  if (aligned < std::max<size_t>(min_cached, 64)) return aligned;
  const size_t step = std::max<size_t>(std::bit_floor(aligned) / 4, 64);
  return (aligned + step - 1) / step * step;
}

CachingAllocator::CachingAllocator(MemorySource source, CachingAllocatorOptions options)
    : source_(std::move(source)), options_(options) {}

CachingAllocator::~CachingAllocator() {
  release_cached();
  for (PendingBlock& p : pending_) {  // at exit nothing is left to wait for
    for (void* event : p.events) source_.destroy_event(event);
    source_.release(p.ptr);
  }
}

void* CachingAllocator::allocate(size_t nbytes, StreamId stream) {
  const size_t size = size_class(nbytes, options_.min_cached_bytes);
  std::lock_guard lock(mutex_);
  collect_pending_locked();
  void* ptr = nullptr;
  if (auto it = free_.find({stream, size}); it != free_.end()) {
    ptr = it->second;
    free_.erase(it);
    ++stats_.cache_hits;
  } else {
    ptr = fresh_block(size, nbytes);
    stats_.reserved_bytes += size;
  }
  live_.emplace(ptr, Block{size, stream, {}});
  stats_.allocated_bytes += size;
  stats_.peak_allocated_bytes = std::max(stats_.peak_allocated_bytes, stats_.allocated_bytes);
  return ptr;
}

void* CachingAllocator::fresh_block(size_t size, size_t requested) {
  auto within_limit = [&] { return !options_.limit_bytes || stats_.reserved_bytes + size <= *options_.limit_bytes; };
  if (!within_limit()) release_cached_locked();
  if (!within_limit()) out_of_memory(requested, "the allocator's limit");
  void* ptr = source_.allocate(size);
  if (!ptr && stats_.reserved_bytes > stats_.allocated_bytes) {  // give the cache back and try once more
    release_cached_locked();
    ptr = source_.allocate(size);
  }
  if (!ptr) out_of_memory(requested, "the device");
  return ptr;
}

void CachingAllocator::out_of_memory(size_t requested, const char* why) const {
  throw Error(fmt::format("{}: out of memory: {} has no room for {} ({} allocated by tensors, {} reserved "
                          "including the cache{})",
                          source_.device, why, format_bytes(requested), format_bytes(stats_.allocated_bytes),
                          format_bytes(stats_.reserved_bytes),
                          options_.limit_bytes ? ", limit " + format_bytes(*options_.limit_bytes) : std::string()));
}

void CachingAllocator::deallocate(void* ptr) {
  std::lock_guard lock(mutex_);
  const auto it = live_.find(ptr);
  if (it == live_.end()) throw Error(fmt::format("{}: freeing memory the allocator did not hand out", source_.device));
  Block block = std::move(it->second);
  live_.erase(it);
  stats_.allocated_bytes -= block.size;
  if (block.other_streams.empty()) return cache_or_release(ptr, block);
  // Work queued on the other streams may still use the block: neither reuse nor release it
  // before that work has passed.
  PendingBlock pending{ptr, std::move(block), {}};
  for (StreamId stream : pending.block.other_streams) pending.events.push_back(source_.record_event(stream));
  stats_.pending_bytes += pending.block.size;
  pending_.push_back(std::move(pending));
}

void CachingAllocator::cache_or_release(void* ptr, const Block& block) {
  // cached_bytes() already counts this block.
  const bool keep = block.size >= options_.min_cached_bytes && stats_.cached_bytes() <= options_.max_cached_bytes;
  if (keep) {
    free_.emplace(std::pair{block.stream, block.size}, ptr);
  } else {
    source_.release(ptr);
    stats_.reserved_bytes -= block.size;
  }
}

void CachingAllocator::record_stream(void* ptr, StreamId stream) {
  std::lock_guard lock(mutex_);
  const auto it = live_.find(ptr);
  if (it == live_.end())
    throw Error(fmt::format("{}: record_stream of memory the allocator did not hand out (or already freed)",
                            source_.device));
  Block& block = it->second;
  if (stream == block.stream) return;  // its own stream orders its work already
  if (!source_.record_event)
    throw Error(fmt::format("{}: record_stream needs device events, and this device has one stream", source_.device));
  if (std::find(block.other_streams.begin(), block.other_streams.end(), stream) == block.other_streams.end())
    block.other_streams.push_back(stream);
}

void CachingAllocator::collect_pending_locked() {
  std::erase_if(pending_, [&](PendingBlock& p) {
    for (void* event : p.events)
      if (!source_.event_done(event)) return false;
    for (void* event : p.events) source_.destroy_event(event);
    stats_.pending_bytes -= p.block.size;
    cache_or_release(p.ptr, p.block);
    return true;
  });
}

void CachingAllocator::release_cached() {
  std::lock_guard lock(mutex_);
  release_cached_locked();
}

void CachingAllocator::release_cached_locked() {
  collect_pending_locked();  // what has passed is released too; the rest must wait
  for (const auto& [key, ptr] : free_) {
    source_.release(ptr);
    stats_.reserved_bytes -= key.second;
  }
  free_.clear();
}

void CachingAllocator::set_limit(std::optional<size_t> limit_bytes) {
  std::lock_guard lock(mutex_);
  options_.limit_bytes = limit_bytes;
}

CachingAllocator::Stats CachingAllocator::stats() const {
  std::lock_guard lock(mutex_);
  return stats_;
}

}  // namespace mantissa
