// A token sampler with its own seeded RNG. Use it from one thread at a time.
using System;

namespace Cab
{
    public sealed class Sampler : IDisposable
    {
        private readonly SamplerHandle handle;

        /// <summary>Creates a sampler; null parameters give greedy sampling.</summary>
        public Sampler(SamplerParams parameters = null)
        {
            IntPtr ptr;
            using (var p = (parameters ?? new SamplerParams()).ToNative())
                Errors.Check(CabNative.cab_sampler_create(p, out ptr));
            handle = new SamplerHandle(ptr);
        }

        internal SamplerHandle Handle
        {
            get { return handle; }
        }

        /// <summary>Frees the sampler. Safe to call twice.</summary>
        public void Dispose()
        {
            handle.Dispose();
        }
    }
}
