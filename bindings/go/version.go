package cab

import "cab/internal/capi"

// Version is the loaded library's version, e.g. "0.1.0".
func Version() string { return capi.Cab_version_string() }

// VersionNumber is the loaded library's version as MAJOR*10000 + MINOR*100 + PATCH.
func VersionNumber() int32 { return capi.Cab_version() }

// HeaderVersionNumber is the version of the cab.h this package was built against.
func HeaderVersionNumber() int32 { return int32(capi.CAB_VERSION_NUMBER) }
