// Owned native handles. SafeHandle gives each one a critical finalizer (the safety net when a
// Dispose is forgotten), makes Dispose idempotent and thread-safe, and counts the calls in flight
// so that a handle is never freed under a running call.
using System;
using System.Runtime.InteropServices;

namespace Cab
{
    internal abstract class CabHandle : SafeHandle
    {
        protected CabHandle(IntPtr ptr) : base(IntPtr.Zero, true)
        {
            SetHandle(ptr);
        }

        public override bool IsInvalid
        {
            get { return handle == IntPtr.Zero; }
        }

        /// <summary>Keeps the handle alive for one native call: <c>using (var h = x.Use())</c>.</summary>
        internal Lease Use()
        {
            return new Lease(this);
        }
    }

    internal struct Lease : IDisposable
    {
        private readonly SafeHandle owner;
        private readonly bool added;

        internal Lease(SafeHandle owner)
        {
            this.owner = owner;
            added = false;
            // Throws ObjectDisposedException once the owner is disposed.
            owner.DangerousAddRef(ref added);
        }

        internal IntPtr Ptr
        {
            get { return owner.DangerousGetHandle(); }
        }

        public void Dispose()
        {
            if (added) owner.DangerousRelease();
        }
    }

    internal sealed class ModelHandle : CabHandle
    {
        internal ModelHandle(IntPtr ptr) : base(ptr) { }

        protected override bool ReleaseHandle()
        {
            CabNative.cab_model_free(handle);
            return true;
        }
    }

    /// <summary>
    /// A context holds a reference on its model's handle, so the model is freed only after its
    /// last context, whatever the order of Dispose calls or finalizers.
    /// </summary>
    internal sealed class ContextHandle : CabHandle
    {
        private readonly ModelHandle model;

        internal ContextHandle(IntPtr ptr, ModelHandle model) : base(ptr)
        {
            bool added = false;
            model.DangerousAddRef(ref added);
            this.model = model;
        }

        protected override bool ReleaseHandle()
        {
            CabNative.cab_ctx_destroy(handle);
            model.DangerousRelease();
            return true;
        }
    }

    internal sealed class SamplerHandle : CabHandle
    {
        internal SamplerHandle(IntPtr ptr) : base(ptr) { }

        protected override bool ReleaseHandle()
        {
            CabNative.cab_sampler_free(handle);
            return true;
        }
    }
}
