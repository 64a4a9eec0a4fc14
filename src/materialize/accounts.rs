//! The `passwd` section, applied as Ignition applies it: groups first, then users, through
//! the same shadow-utils commands Ignition runs against the root (`groupadd`, `groupdel`,
//! `useradd`, `usermod`, `userdel`, each with `--root`), then each user's SSH keys written
//! to `~/.ssh/authorized_keys.d/ignition` (directories 0700 and the file 0600, the user's
//! own). The commands chroot into the root, so they need root privileges and a root that
//! holds `/etc/passwd`; otherwise the accounts are listed, not applied, like owners.

use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::Path;
use std::process::Command;

use serde_json::Value;

use crate::diag::{Diagnostic, Report};
use crate::json::Lookup;
use crate::validate::{array, text};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Group,
    User,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Kind::Group => "group",
            Kind::User => "user",
        }
    }

    /// The database the root lists these accounts in.
    fn database(self) -> &'static str {
        match self {
            Kind::Group => "etc/group",
            Kind::User => "etc/passwd",
        }
    }
}

/// A group or user of the config, and the command lines that apply it.
#[derive(Debug)]
pub(super) struct Account {
    kind: Kind,
    name: String,
    /// The entry's JSON path (`$.passwd.users.0`), for errors.
    at: String,
    should_exist: bool,
    /// The options of `groupadd` or `useradd`, for a new account.
    create: Vec<String>,
    /// The options of `usermod`, for an existing user (an existing group is left alone, and
    /// `groupadd` then fails, as it does for Ignition).
    modify: Vec<String>,
    /// A user's password hash, when the config sets one.
    password_hash: Option<String>,
    ssh_keys: Vec<String>,
}

/// The config's groups, then its users, in config order (Ignition's order).
pub(super) fn plan(config: &Value) -> Vec<Account> {
    let at = |list: &str, index: usize| format!("$.passwd.{list}.{index}");
    let groups = array(config, "/passwd/groups")
        .iter()
        .enumerate()
        .map(|(index, entry)| group(entry, at("groups", index)));
    let users = array(config, "/passwd/users")
        .iter()
        .enumerate()
        .map(|(index, entry)| user(entry, at("users", index)));
    groups.chain(users).collect()
}

fn should_exist(entry: &Value) -> bool {
    entry.get("shouldExist").and_then(Value::as_bool) != Some(false)
}

fn flag(entry: &Value, key: &str) -> bool {
    entry.get(key).and_then(Value::as_bool) == Some(true)
}

/// `--option value` when the entry sets `key` to a non-empty string.
fn option(args: &mut Vec<String>, entry: &Value, key: &str, name: &str) {
    let value = text(entry, key);
    if !value.is_empty() {
        args.extend([name.to_string(), value.to_string()]);
    }
}

fn group(entry: &Value, at: String) -> Account {
    let mut create = Vec::new();
    if let Some(gid) = entry.get("gid").and_then(Value::as_u64) {
        create.extend(["--gid".to_string(), gid.to_string()]);
    }
    create.extend(["--password".to_string(), password(entry, "*")]);
    if flag(entry, "system") {
        create.push("--system".into());
    }
    Account {
        kind: Kind::Group,
        name: text(entry, "name").to_string(),
        at,
        should_exist: should_exist(entry),
        create,
        modify: Vec::new(),
        password_hash: None,
        ssh_keys: Vec::new(),
    }
}

/// The password hash to set: the config's (an empty one locks the account as `*`).
fn password(entry: &Value, unset: &str) -> String {
    match entry.get("passwordHash").and_then(Value::as_str) {
        Some("") => "*".to_string(),
        Some(hash) => hash.to_string(),
        None => unset.to_string(),
    }
}

fn user(entry: &Value, at: String) -> Account {
    let mut create = Vec::new();
    option(&mut create, entry, "homeDir", "--home-dir");
    create.push(
        if flag(entry, "noCreateHome") {
            "--no-create-home"
        } else {
            "--create-home"
        }
        .into(),
    );
    for (key, name) in [
        ("noUserGroup", "--no-user-group"),
        ("system", "--system"),
        ("noLogInit", "--no-log-init"),
    ] {
        if flag(entry, key) {
            create.push(name.into());
        }
    }
    create.extend(["--password".to_string(), password(entry, "*")]);

    let mut modify = Vec::new();
    if !text(entry, "homeDir").is_empty() {
        modify.extend([
            "--home".to_string(),
            text(entry, "homeDir").to_string(),
            "--move-home".into(),
        ]);
    }
    if entry.get("passwordHash").is_some_and(|h| !h.is_null()) {
        modify.extend(["--password".to_string(), password(entry, "*")]);
    }
    for args in [&mut create, &mut modify] {
        if let Some(uid) = entry.get("uid").and_then(Value::as_u64) {
            args.extend(["--uid".to_string(), uid.to_string()]);
        }
        option(args, entry, "gecos", "--comment");
        option(args, entry, "primaryGroup", "--gid");
        let groups: Vec<&str> = array(entry, "/groups")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        if !groups.is_empty() {
            args.extend(["--groups".to_string(), groups.join(",")]);
        }
        option(args, entry, "shell", "--shell");
    }
    Account {
        kind: Kind::User,
        name: text(entry, "name").to_string(),
        at,
        should_exist: should_exist(entry),
        create,
        modify,
        password_hash: entry
            .get("passwordHash")
            .and_then(Value::as_str)
            .map(|_| password(entry, "*")),
        ssh_keys: entry
            .at("/sshAuthorizedKeys")
            .and_then(Value::as_array)
            .map(|keys| {
                keys.iter()
                    .filter_map(Value::as_str)
                    .map(str::to_string)
                    .collect()
            })
            .unwrap_or_default(),
    }
}

/// Applies the accounts to `root` (when running as root and the root holds `/etc/passwd`),
/// or lists them as not applied. Returns one line per action.
pub(super) fn apply(
    accounts: &[Account],
    root: &Path,
    as_root: bool,
) -> Result<Vec<String>, Report> {
    if accounts.is_empty() {
        return Ok(Vec::new());
    }
    let reason = if !root.join("etc/passwd").is_file() {
        Some("the root has no /etc/passwd")
    } else if !as_root {
        Some("not running as root")
    } else {
        None
    };
    if let Some(reason) = reason {
        return Ok(accounts
            .iter()
            .map(|a| format!("{:<7} {}: not applied ({reason})", a.kind.name(), a.name))
            .collect());
    }
    let mut lines = Vec::new();
    for account in accounts {
        lines.push(apply_account(account, root)?);
        if !account.should_exist {
            continue;
        }
        // Ignition sets a user's password hash once more after creating or changing it.
        if let Some(hash) = &account.password_hash {
            run(
                root,
                "usermod",
                &["--password".into(), hash.clone()],
                account,
            )?;
        }
        if !account.ssh_keys.is_empty() {
            lines.push(authorize_keys(account, root)?);
        }
    }
    Ok(lines)
}

fn apply_account(account: &Account, root: &Path) -> Result<String, Report> {
    let exists = lookup(root, account.kind, &account.name).is_some();
    let kind = account.kind.name();
    let remove = ["--remove".to_string()];
    let (program, options): (&str, &[String]) = match (account.kind, account.should_exist, exists) {
        (_, false, false) => {
            return Ok(format!(
                "{kind:<7} {}: absent, as the config asks",
                account.name
            ));
        }
        (Kind::Group, false, true) => ("groupdel", &[]),
        (Kind::User, false, true) => ("userdel", &remove),
        (Kind::Group, true, _) => ("groupadd", &account.create),
        (Kind::User, true, false) => ("useradd", &account.create),
        (Kind::User, true, true) => ("usermod", &account.modify),
    };
    run(root, program, options, account)?;
    Ok(format!("{kind:<7} {}: {program}", account.name))
}

/// Runs `program --root ROOT OPTIONS NAME`; its failure is an error naming the command.
fn run(root: &Path, program: &str, options: &[String], account: &Account) -> Result<(), Report> {
    let output = Command::new(program)
        .arg("--root")
        .arg(root)
        .args(options)
        .arg(&account.name)
        .output()
        .map_err(|e| {
            Diagnostic::error(
                "materialize.account",
                format!("{program} cannot run: {e}"),
                super::json_at(&account.at),
            )
            .with_help("materialize applies accounts with the shadow-utils commands Ignition runs: install them (Debian's passwd package)")
        })?;
    if output.status.success() {
        return Ok(());
    }
    Err(Diagnostic::error(
        "materialize.account",
        format!(
            "{program} failed for {} {}: {}",
            account.kind.name(),
            account.name,
            String::from_utf8_lossy(&output.stderr).trim()
        ),
        super::json_at(&account.at),
    )
    .with_help("Ignition would fail here too, with the same command")
    .into())
}

/// The user's SSH keys in `HOME/.ssh/authorized_keys.d/ignition`: the directories it lacks
/// are made 0700 and the file 0600, owned by the user, as Ignition writes them.
fn authorize_keys(account: &Account, root: &Path) -> Result<String, Report> {
    let Some(entry) = lookup(root, Kind::User, &account.name) else {
        return Err(Diagnostic::error(
            "materialize.account",
            format!(
                "user {} is not in the root's /etc/passwd after it was applied",
                account.name
            ),
            super::json_at(&account.at),
        )
        .into());
    };
    let home = entry.get(5).cloned().unwrap_or_default();
    let uid = entry.get(2).and_then(|u| u.parse().ok());
    let gid = entry.get(3).and_then(|g| g.parse().ok());
    let node_path = format!(
        "{}/.ssh/authorized_keys.d/ignition",
        home.trim_end_matches('/')
    );
    super::check_inside(root, &node_path)?;
    let mut current = root.to_path_buf();
    let parts = super::node_parts(&node_path)?;
    for part in &parts[..parts.len() - 1] {
        let parent = current.clone();
        current.push(part);
        if std::fs::symlink_metadata(&current).is_err() {
            user_may_write(&parent, uid, gid, account, root)?;
            std::fs::DirBuilder::new()
                .mode(0o700)
                .create(&current)
                .map_err(|e| Report::io(&current, "write", &e))?;
            std::os::unix::fs::lchown(&current, uid, gid)
                .map_err(|e| Report::io(&current, "write", &e))?;
        }
    }
    current.push(parts[parts.len() - 1]);
    let mut keys = account.ssh_keys.join("\n");
    if !keys.ends_with('\n') {
        keys.push('\n');
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&current)
        .map_err(|e| Report::io(&current, "write", &e))?;
    std::os::unix::fs::fchown(&file, uid, gid).map_err(|e| Report::io(&current, "write", &e))?;
    std::io::Write::write_all(&mut file, keys.as_bytes())
        .map_err(|e| Report::io(&current, "write", &e))?;
    Ok(format!("ssh     {} keys: {node_path}", account.name))
}

/// Ignition creates the key directories as the user (its file system uid and gid): where
/// the user may not write, it fails, and so does materialize.
fn user_may_write(
    dir: &Path,
    uid: Option<u32>,
    gid: Option<u32>,
    account: &Account,
    root: &Path,
) -> Result<(), Report> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(dir).map_err(|e| Report::io(dir, "read", &e))?;
    let bits = if uid == Some(0) {
        0o2
    } else if uid == Some(meta.uid()) {
        meta.mode() >> 6
    } else if gid == Some(meta.gid()) {
        meta.mode() >> 3
    } else {
        meta.mode()
    };
    if bits & 0o2 != 0 {
        return Ok(());
    }
    Err(Diagnostic::error(
        "materialize.account",
        format!(
            "user {} may not create its SSH key directory in {}",
            account.name,
            super::node_path_of(root, dir)
        ),
        super::json_at(&account.at),
    )
    .with_help("Ignition writes the keys as the user and fails here too: create the home directory (drop noCreateHome), or make it the user's")
    .into())
}

/// The root's `/etc/passwd` (users) or `/etc/group` (groups) entry for `name`, split at `:`.
fn lookup(root: &Path, kind: Kind, name: &str) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(root.join(kind.database())).ok()?;
    text.lines()
        .map(|line| line.split(':').map(str::to_string).collect::<Vec<_>>())
        .find(|fields| fields.first().is_some_and(|n| n == name))
}
