// Status codes and the exception every failing call throws.
using System;

namespace Cab
{
    /// <summary>The result codes of the C ABI (cab_status). The values are pinned forever.</summary>
    public enum Status
    {
        Ok = 0,
        InvalidArgument = -1,
        Io = -2,
        Format = -3,
        Unsupported = -4,
        OutOfMemory = -5,
        KvFull = -6,
        Device = -7,
        State = -8,
        BufferTooSmall = -9,
        Internal = -10
    }

    /// <summary>
    /// A libcab call failed. <see cref="Code"/> is its status; the message is cab_last_error(),
    /// which names the function and the bad argument, file or offset.
    /// </summary>
    public class CabException : Exception
    {
        public CabException(Status code, string message) : base(message)
        {
            Code = code;
        }

        public Status Code { get; private set; }
    }

    internal static class Errors
    {
        /// <summary>Throws a CabException for a failed status, with this thread's message.</summary>
        internal static void Check(cab_status status)
        {
            if (status != cab_status.CAB_OK) throw Failure(status);
        }

        internal static CabException Failure(cab_status status)
        {
            string message = CabNative.cab_last_error();
            if (string.IsNullOrEmpty(message)) message = CabNative.cab_status_string(status);
            return new CabException((Status)(int)status, message);
        }
    }
}
