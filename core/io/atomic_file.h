#pragma once
// Replacing a file so that a crash or an error never leaves a half-written one behind:
// checkpoints, safetensors files and metrics logs are all written through here.
#include <functional>
#include <ostream>
#include <string>

namespace mantissa::io {

// Calls `write` with a binary stream on `<path>.tmp.<pid>` in the same directory, fsyncs it,
// renames it over `path` and fsyncs the directory. Readers see either the old file or the
// complete new one. If `write` throws, or any step fails, the temporary file is removed, the
// old file is left untouched, and the exception propagates (I/O failures throw
// mantissa::Error naming the path and the system's reason).
void write_file_atomically(const std::string& path, const std::function<void(std::ostream&)>& write);

}  // namespace mantissa::io
