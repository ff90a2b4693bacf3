// The C ABI's caller-buffer convention: call with a guessed capacity, and once more with the
// size the library asked for when it answers BUFFER_TOO_SMALL.
namespace Cab
{
    internal delegate cab_status FillCall<T>(T[] buffer, ulong capacity, out ulong count);

    internal static class Buffers
    {
        internal static T[] Fill<T>(FillCall<T> call, int guess)
        {
            var buffer = new T[guess];
            ulong count;
            cab_status status = call(buffer, (ulong)buffer.Length, out count);
            if (status == cab_status.CAB_ERR_BUFFER_TOO_SMALL)
            {
                buffer = new T[count];
                status = call(buffer, (ulong)buffer.Length, out count);
            }
            Errors.Check(status);
            if ((ulong)buffer.Length != count) System.Array.Resize(ref buffer, (int)count);
            return buffer;
        }
    }
}
