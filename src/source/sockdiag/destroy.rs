//! Destroying one socket through the kernel (`SOCK_DESTROY`, what `ss -K`
//! does): the kernel aborts it as if the connection had failed. Its owner's
//! next call fails with ECONNABORTED, a connected peer receives a RST.
//! Here: why it could not be, in words; the request is `sockdiag::destroy`.

use std::fmt;

/// Why a socket could not be destroyed, in words that say what to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DestroyError {
    /// EPERM / EACCES: the kernel asks for CAP_NET_ADMIN.
    NotPermitted,
    /// EOPNOTSUPP: a kernel built without CONFIG_INET_DIAG_DESTROY, or an
    /// OS without SOCK_DESTROY.
    Unsupported,
    /// ENOENT / ESTALE: no such socket any more (or another one now has
    /// those ends).
    Gone,
    /// The socket lives in a namespace (the lab's link) that could not be
    /// entered to reach it.
    NotEntered {
        namespace: &'static str,
        why: String,
    },
    Other(String),
}

impl fmt::Display for DestroyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DestroyError::NotPermitted => f.write_str(
                "the kernel allows destroying sockets only with CAP_NET_ADMIN: run tcpscope as root",
            ),
            DestroyError::Unsupported => f.write_str(
                "this kernel cannot destroy sockets (it was built without CONFIG_INET_DIAG_DESTROY)",
            ),
            DestroyError::Gone => f.write_str("the socket is already gone"),
            DestroyError::NotEntered { namespace, why } => {
                write!(f, "cannot enter the {namespace} namespace: {why}")
            }
            DestroyError::Other(why) => f.write_str(why),
        }
    }
}

impl std::error::Error for DestroyError {}

impl DestroyError {
    /// The kernel's errno, as one of the above.
    pub fn from_errno(errno: i32) -> DestroyError {
        const EPERM: i32 = 1;
        const ENOENT: i32 = 2;
        const EACCES: i32 = 13;
        const EOPNOTSUPP: i32 = 95;
        const ESTALE: i32 = 116;
        match errno {
            EPERM | EACCES => DestroyError::NotPermitted,
            EOPNOTSUPP => DestroyError::Unsupported,
            ENOENT | ESTALE => DestroyError::Gone,
            other => DestroyError::Other(format!(
                "the kernel refused: {}",
                std::io::Error::from_raw_os_error(other)
            )),
        }
    }
}
