#include <mantissa/core/storage.h>

#include <mantissa/core/backend.h>

namespace mantissa {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  data_ = backend_for(device).allocate(nbytes, device);
}

Storage::~Storage() { backend_for(device_).deallocate(data_, device_); }

}  // namespace mantissa
