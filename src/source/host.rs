//! Which machine and kernel a stream comes from (its header says).

/// `(host name, kernel release)`, as `uname -n` and `uname -r` print them.
#[cfg(unix)]
pub fn describe() -> (String, String) {
    let u = rustix::system::uname();
    let text = |s: &std::ffi::CStr| s.to_string_lossy().into_owned();
    (text(u.nodename()), text(u.release()))
}

#[cfg(not(unix))]
pub fn describe() -> (String, String) {
    let host = std::env::var("COMPUTERNAME").unwrap_or_else(|_| "unknown".into());
    (host, "unknown".into())
}
