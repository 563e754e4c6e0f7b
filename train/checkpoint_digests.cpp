#include <mantissa/train/checkpoint_digests.h>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <mantissa/core/error.h>
#include <mantissa/core/io/crc32c.h>
#include <mantissa/core/ops.h>

namespace mantissa::training {

namespace {

std::string hex(uint32_t crc) { return fmt::format("{:08x}", crc); }

// The tensor's elements in row-major order, as the file holds them.
uint32_t tensor_crc(const Tensor& t) {
  const Tensor host = raw::contiguous(raw::to_device(t, Device::cpu()));
  return io::crc32c(host.data_ptr(), static_cast<size_t>(host.numel()) * host.element_size());
}

// Every entry but the digests themselves, key and value each followed by a NUL, in key order.
uint32_t metadata_crc(const std::map<std::string, std::string>& metadata) {
  uint32_t crc = 0;
  for (const auto& [key, value] : metadata) {
    if (key == kDigestsKey) continue;
    crc = io::crc32c(key.c_str(), key.size() + 1, crc);
    crc = io::crc32c(value.c_str(), value.size() + 1, crc);
  }
  return crc;
}

}  // namespace

std::string digests_of(const StateDict& tensors, const std::map<std::string, std::string>& metadata) {
  nlohmann::json per_tensor = nlohmann::json::object();
  for (const auto& [name, t] : tensors) per_tensor[name] = hex(tensor_crc(t));
  return nlohmann::json{{"algorithm", "crc32c"}, {"metadata", hex(metadata_crc(metadata))}, {"tensors", per_tensor}}
      .dump();
}

void verify_digests(const io::NamedTensors& file, const StoredDigests& digests, const std::string& path) {
  MANTISSA_CHECK(digests.metadata == hex(metadata_crc(file.metadata)), "training::Checkpoint",
                 "{}: the metadata (configuration, step, random streams) does not match its digest; the file is "
                 "damaged or was edited", path);
  MANTISSA_CHECK(digests.tensors.size() == file.tensors.size(), "training::Checkpoint",
                 "{}: {} tensors, but digests for {}; the file is damaged or was edited", path, file.tensors.size(),
                 digests.tensors.size());
  for (const auto& [name, t] : file.tensors) {
    const auto stored = digests.tensors.find(name);
    MANTISSA_CHECK(stored != digests.tensors.end(), "training::Checkpoint", "{}: tensor '{}' has no digest", path,
                   name);
    const std::string computed = hex(tensor_crc(t));
    MANTISSA_CHECK(stored->second == computed, "training::Checkpoint",
                   "{}: tensor '{}' does not match its digest (CRC-32C {} stored, {} read); the file is damaged",
                   path, name, stored->second, computed);
  }
}

}  // namespace mantissa::training
