//! Status codes and the error every failing call returns.
use std::ffi::CStr;
use std::fmt;

use cab_sys as sys;

/// A libcab result code other than success (`cab_status`). The values are pinned forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Status {
    InvalidArgument,
    Io,
    Format,
    Unsupported,
    OutOfMemory,
    KvFull,
    Device,
    State,
    BufferTooSmall,
    Internal,
    /// A code newer than this crate.
    Other(i32),
}

const CODES: [(Status, sys::cab_status); 10] = [
    (Status::InvalidArgument, sys::CAB_ERR_INVALID_ARGUMENT),
    (Status::Io, sys::CAB_ERR_IO),
    (Status::Format, sys::CAB_ERR_FORMAT),
    (Status::Unsupported, sys::CAB_ERR_UNSUPPORTED),
    (Status::OutOfMemory, sys::CAB_ERR_OUT_OF_MEMORY),
    (Status::KvFull, sys::CAB_ERR_KV_FULL),
    (Status::Device, sys::CAB_ERR_DEVICE),
    (Status::State, sys::CAB_ERR_STATE),
    (Status::BufferTooSmall, sys::CAB_ERR_BUFFER_TOO_SMALL),
    (Status::Internal, sys::CAB_ERR_INTERNAL),
];

impl Status {
    /// The C value of the status.
    pub fn code(self) -> i32 {
        match self {
            Status::Other(code) => code,
            known => CODES
                .iter()
                .find(|(s, _)| *s == known)
                .map(|(_, c)| *c)
                .unwrap_or(0),
        }
    }

    pub(crate) fn from_code(code: sys::cab_status) -> Status {
        CODES
            .iter()
            .find(|(_, c)| *c == code)
            .map(|(s, _)| *s)
            .unwrap_or(Status::Other(code))
    }
}

/// A failed libcab call: its status and the message of `cab_last_error()`, which names the
/// function and the bad argument, file or offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Error {
    status: Status,
    message: String,
}

impl Error {
    pub(crate) fn new(status: Status, message: impl Into<String>) -> Error {
        Error {
            status,
            message: message.into(),
        }
    }

    pub fn status(&self) -> Status {
        self.status
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({:?})", self.message, self.status)
    }
}

impl std::error::Error for Error {}

pub type Result<T> = std::result::Result<T, Error>;

/// Turns a status into a Result, reading this thread's message on failure.
pub(crate) fn check(status: sys::cab_status) -> Result<()> {
    if status == sys::CAB_OK {
        return Ok(());
    }
    // SAFETY: cab_last_error never returns NULL and its string lives until the next failing call
    // on this thread; it is copied at once.
    let message = unsafe { CStr::from_ptr(sys::cab_last_error()) }
        .to_string_lossy()
        .into_owned();
    Err(Error::new(Status::from_code(status), message))
}

/// The C ABI's caller-buffer convention: call with a guessed capacity, and once more with the
/// size the library asked for when it answers BUFFER_TOO_SMALL.
pub(crate) fn fill<T: Copy + Default>(
    guess: usize,
    mut call: impl FnMut(*mut T, usize, &mut usize) -> sys::cab_status,
) -> Result<Vec<T>> {
    let mut buf = vec![T::default(); guess];
    let mut n = 0usize;
    let mut status = call(buf.as_mut_ptr(), buf.len(), &mut n);
    if status == sys::CAB_ERR_BUFFER_TOO_SMALL {
        buf = vec![T::default(); n];
        status = call(buf.as_mut_ptr(), buf.len(), &mut n);
    }
    check(status)?;
    buf.truncate(n);
    Ok(buf)
}
