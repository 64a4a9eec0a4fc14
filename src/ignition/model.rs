//! The subset of the Ignition config that kindling writes, as typed structs. Unset fields
//! are left out of the JSON (never written as `null`), as Butane does.

use serde::Serialize;

#[derive(Debug, Serialize)]
pub struct Config {
    pub ignition: IgnitionSection,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passwd: Option<Passwd>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub storage: Option<Storage>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub systemd: Option<Systemd>,
}

#[derive(Debug, Serialize)]
pub struct IgnitionSection {
    pub version: String,
}

#[derive(Debug, Default, Serialize)]
pub struct Passwd {
    pub users: Vec<User>,
}

#[derive(Debug, Serialize)]
pub struct User {
    pub name: String,
    #[serde(rename = "sshAuthorizedKeys", skip_serializing_if = "Vec::is_empty")]
    pub ssh_authorized_keys: Vec<String>,
}

#[derive(Debug, Default, Serialize)]
pub struct Storage {
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub directories: Vec<Directory>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<File>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub links: Vec<Link>,
}

impl Storage {
    pub fn is_empty(&self) -> bool {
        self.directories.is_empty() && self.files.is_empty() && self.links.is_empty()
    }
}

/// `user` / `group` of a node, by numeric id.
#[derive(Debug, Serialize)]
pub struct NodeOwner {
    pub id: u32,
}

#[derive(Debug, Serialize)]
pub struct Directory {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overwrite: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<NodeOwner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<NodeOwner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct File {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overwrite: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<NodeOwner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<NodeOwner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contents: Option<Resource>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mode: Option<u32>,
}

#[derive(Debug, Serialize)]
pub struct Resource {
    pub source: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compression: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub verification: Option<Verification>,
}

#[derive(Debug, Serialize)]
pub struct Verification {
    pub hash: String,
}

#[derive(Debug, Serialize)]
pub struct Link {
    pub path: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub overwrite: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub user: Option<NodeOwner>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group: Option<NodeOwner>,
    pub target: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hard: Option<bool>,
}

#[derive(Debug, Default, Serialize)]
pub struct Systemd {
    pub units: Vec<Unit>,
}

#[derive(Debug, Serialize)]
pub struct Unit {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub mask: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contents: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub dropins: Vec<Dropin>,
}

#[derive(Debug, Serialize)]
pub struct Dropin {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub contents: Option<String>,
}
