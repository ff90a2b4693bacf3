//! Token samplers.
use std::ptr::{self, NonNull};

use cab_sys as sys;

use crate::error::{check, Error, Result, Status};
use crate::params::SamplerParams;

/// Picks tokens from logits with its own seeded RNG (greedy, temperature, top-k/p, min-p,
/// repetition penalty).
#[derive(Debug)]
pub struct Sampler {
    ptr: NonNull<sys::cab_sampler>,
}

// SAFETY: a sampler may move between threads; `&mut` use keeps it to one at a time.
unsafe impl Send for Sampler {}

impl Sampler {
    pub fn new(params: &SamplerParams) -> Result<Sampler> {
        let raw = params.raw();
        let mut ptr = ptr::null_mut();
        check(unsafe { sys::cab_sampler_create(&raw, &mut ptr) })?;
        let ptr = NonNull::new(ptr)
            .ok_or_else(|| Error::new(Status::Internal, "cab_sampler_create gave NULL"))?;
        Ok(Sampler { ptr })
    }

    pub(crate) fn as_ptr(&mut self) -> *mut sys::cab_sampler {
        self.ptr.as_ptr()
    }
}

impl Drop for Sampler {
    fn drop(&mut self) {
        unsafe { sys::cab_sampler_free(self.ptr.as_ptr()) }
    }
}
