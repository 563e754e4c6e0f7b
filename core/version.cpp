#include <mantissa/core/version.h>

namespace mantissa {

const char* version() { return MANTISSA_VERSION_STRING; }

}  // namespace mantissa
