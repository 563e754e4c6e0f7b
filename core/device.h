#pragma once
#include <string>
#include <string_view>

namespace mantissa {

struct Device {
  enum class Type { cpu, cuda };
  Type type = Type::cpu;
  int index = 0;

  static Device cpu() { return {Type::cpu, 0}; }
  static Device cuda(int index = 0) { return {Type::cuda, index}; }
  bool is_cpu() const { return type == Type::cpu; }
  bool is_cuda() const { return type == Type::cuda; }
  bool operator==(const Device&) const = default;
  std::string str() const {
    return is_cuda() ? "cuda:" + std::to_string(index) : index == 0 ? "cpu" : "cpu:" + std::to_string(index);
  }
};

// "cpu", "cuda" (cuda:0) or "cuda:N" (and "cpu:N", which str() writes for a CPU index other
// than 0), as torch.device reads them; anything else is an error that quotes the text.
// Whether the device exists is the backend's to say, at first use.
Device parse_device(std::string_view text);

// Usable CUDA devices: 0 without the CUDA backend, a driver recent enough for it, or a GPU
// (as torch.cuda.device_count / is_available).
int cuda_device_count();
inline bool cuda_is_available() { return cuda_device_count() > 0; }

}  // namespace mantissa
