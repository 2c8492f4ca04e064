//! `tcpscope doctor`: each feature tried for real, as this user on this
//! machine, with what it needs when it does not work.

#[cfg(target_os = "linux")]
mod linux;

/// The capabilities that give a normal user every feature root has, for
/// `setcap` on the installed binary.
pub const SETCAP_CAPS: &str = "cap_dac_override,cap_dac_read_search,cap_sys_ptrace,cap_net_admin,cap_net_raw,cap_sys_admin+ep";

/// One feature and whether it works here.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    pub feature: &'static str,
    pub works: bool,
    /// What was found: how it works, or why it does not.
    pub detail: String,
    /// What would make it work, when it does not.
    pub fix: Option<String>,
}

impl Check {
    fn new(feature: &'static str, outcome: Result<String, String>, fix: &str) -> Check {
        match outcome {
            Ok(detail) => Check {
                feature,
                works: true,
                detail,
                fix: None,
            },
            Err(detail) => Check {
                feature,
                works: false,
                detail,
                fix: Some(fix.to_string()),
            },
        }
    }
}

/// Who the checks ran as, for the first line.
pub fn who() -> String {
    super::users::current()
}

/// The fix for a feature that needs privilege: root, or the setcap line.
pub fn privilege_fix() -> String {
    let exe = std::env::current_exe()
        .map(|p| p.display().to_string())
        .unwrap_or_else(|_| "$(command -v tcpscope)".into());
    format!("run as root, or once: sudo setcap {SETCAP_CAPS} {exe}")
}

/// Every check, in the order a person meets the features.
#[cfg(target_os = "linux")]
pub fn run() -> Vec<Check> {
    linux::run()
}

#[cfg(not(target_os = "linux"))]
pub fn run() -> Vec<Check> {
    let table = match super::open(
        super::SourceKind::Netstat2,
        super::Cadence::Once,
        &super::Scope::default(),
    ) {
        Ok(_) => Ok("netstat2 (states and owners)".to_string()),
        Err(e) => Err(e.to_string()),
    };
    vec![
        Check::new("the socket table", table, "none known on this OS"),
        Check::new(
            "exact transitions",
            Err("need Linux (the sock:inet_sock_set_state tracepoint)".into()),
            "run on Linux",
        ),
    ]
}
