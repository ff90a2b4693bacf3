// Library-wide facts: the version of the libcab that is loaded.
namespace Cab
{
    public static class Library
    {
        /// <summary>The loaded library's version, e.g. "0.1.0".</summary>
        public static string Version
        {
            get { return CabNative.cab_version_string(); }
        }

        /// <summary>The loaded library's version as MAJOR * 10000 + MINOR * 100 + PATCH.</summary>
        public static int VersionNumber
        {
            get { return CabNative.cab_version(); }
        }

        /// <summary>The version of the header this binding was generated from.</summary>
        public static int BindingVersionNumber
        {
            get { return CabNative.CAB_VERSION_NUMBER; }
        }
    }
}
