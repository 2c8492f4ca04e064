//! uid → user name, looked up once per uid (through the system's user
//! database, so NSS sources such as LDAP work too).

use crate::socket::SocketRow;
use rustc_hash::FxHashMap;
use std::sync::Arc;

#[derive(Default)]
pub struct UserNames {
    names: FxHashMap<u32, Option<Arc<str>>>,
}

impl UserNames {
    pub fn fill(&mut self, rows: &mut [SocketRow]) {
        for row in rows.iter_mut() {
            if let Some(uid) = row.uid {
                row.user = self.names.entry(uid).or_insert_with(|| lookup(uid)).clone();
            }
        }
    }
}

/// This process's user, as "NAME (uid N)".
#[cfg(unix)]
pub fn current() -> String {
    let uid = uzers::get_effective_uid();
    match lookup(uid) {
        Some(name) => format!("{name} (uid {uid})"),
        None => format!("uid {uid}"),
    }
}

#[cfg(not(unix))]
pub fn current() -> String {
    "this user".into()
}

#[cfg(unix)]
fn lookup(uid: u32) -> Option<Arc<str>> {
    let user = uzers::get_user_by_uid(uid)?;
    Some(Arc::from(user.name().to_string_lossy().as_ref()))
}

#[cfg(not(unix))]
fn lookup(_uid: u32) -> Option<Arc<str>> {
    None
}
