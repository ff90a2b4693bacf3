// Version, status names and the last-error message.
#include "api/guard.h"

#define CAB_STR2(x) #x
#define CAB_STR(x) CAB_STR2(x)

extern "C" {

int32_t cab_version(void) { return CAB_VERSION_NUMBER; }

const char *cab_version_string(void) {
    return CAB_STR(CAB_VERSION_MAJOR) "." CAB_STR(CAB_VERSION_MINOR) "." CAB_STR(CAB_VERSION_PATCH);
}

const char *cab_last_error(void) { return cab::api::last_error().c_str(); }

const char *cab_status_string(cab_status status) {
    switch (status) {
        case CAB_OK: return "CAB_OK";
        case CAB_ERR_INVALID_ARGUMENT: return "CAB_ERR_INVALID_ARGUMENT";
        case CAB_ERR_IO: return "CAB_ERR_IO";
        case CAB_ERR_FORMAT: return "CAB_ERR_FORMAT";
        case CAB_ERR_UNSUPPORTED: return "CAB_ERR_UNSUPPORTED";
        case CAB_ERR_OUT_OF_MEMORY: return "CAB_ERR_OUT_OF_MEMORY";
        case CAB_ERR_KV_FULL: return "CAB_ERR_KV_FULL";
        case CAB_ERR_DEVICE: return "CAB_ERR_DEVICE";
        case CAB_ERR_STATE: return "CAB_ERR_STATE";
        case CAB_ERR_BUFFER_TOO_SMALL: return "CAB_ERR_BUFFER_TOO_SMALL";
        case CAB_ERR_INTERNAL: return "CAB_ERR_INTERNAL";
    }
    return "unknown status";
}

}  // extern "C"
