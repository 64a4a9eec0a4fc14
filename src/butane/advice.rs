//! Butane's warnings about configs that are valid but almost certainly not what was meant: a
//! mode written in decimal (`mode: 644`), and on Fedora CoreOS a root partition under the
//! 8 GiB the OS needs or unable to grow, a partition reused by label where a new one would be
//! created, and a reserved label given another number. They run on the translated config (so
//! sugar such as `boot_device.mirror` is already applied) and point at the Butane source.

use serde_json::Value;

use super::Variant;
use super::walk::{Place, Walker};
use crate::json::Lookup;

/// The boot disk of a Fedora CoreOS machine, whose partitions may be reused by label.
const BOOT_DISK: &str = "/dev/disk/by-id/coreos-boot-disk";
/// The smallest root partition Fedora CoreOS supports.
const ROOT_MIN_MIB: i64 = 8192;

pub(super) fn apply(walker: &mut Walker, config: &Value) {
    decimal_modes(walker, config);
    if walker.target.variant == Variant::Fcos {
        for (d, disk) in array(config, "/storage/disks").iter().enumerate() {
            let at = format!("$.storage.disks.{d}");
            reserved_partitions(walker, disk, &at);
            root_partition(walker, disk, &at);
            if walker.target.minor >= 6 {
                partitions_reused_by_label(walker, disk, &at);
            }
        }
    }
}

fn array<'a>(value: &'a Value, pointer: &str) -> &'a [Value] {
    value
        .at(pointer)
        .and_then(Value::as_array)
        .map_or(&[], Vec::as_slice)
}

/// Warns at the Butane place of exactly `json` (nothing Butane did not write, such as a
/// file from a tree); `suffix` names a key under it that the user left out.
fn warn(walker: &mut Walker, code: &'static str, json: &str, suffix: &str, message: &str) {
    let Some((_, yaml, line, column)) = walker.places.exactly(json).cloned() else {
        return;
    };
    let yaml = format!("{yaml}{suffix}");
    let place = Place {
        json: yaml.clone(),
        yaml,
    };
    walker.warn_at(code, &place, line, column, message);
}

fn decimal_modes(walker: &mut Walker, config: &Value) {
    for (section, directory) in [("files", false), ("directories", true)] {
        for (index, node) in array(config, &format!("/storage/{section}"))
            .iter()
            .enumerate()
        {
            let Some(mode) = node.get("mode").and_then(Value::as_i64) else {
                continue;
            };
            if written_in_decimal(mode, directory) {
                warn(
                    walker,
                    "butane.decimal-mode",
                    &format!("$.storage.{section}.{index}.mode"),
                    "",
                    "unreasonable mode would be reasonable if specified in octal; remember to add a leading zero",
                );
            }
        }
    }
}

/// Whether a mode looks like octal digits written as a decimal number: unusual as it is,
/// usual when its digits are read as octal (`644` → `0644`).
fn written_in_decimal(mode: i64, directory: bool) -> bool {
    let Some(octal) = digits_as_octal(mode) else {
        return false;
    };
    !is_usual_mode(mode, directory) && is_usual_mode(octal, directory)
}

/// The number whose octal digits are `mode`'s decimal digits, for up to four digits 0–7.
fn digits_as_octal(mode: i64) -> Option<i64> {
    if !(0..=7777).contains(&mode) {
        return None;
    }
    let digits = [mode / 1000, mode / 100 % 10, mode / 10 % 10, mode % 10];
    digits
        .iter()
        .try_fold(0, |octal, &digit| (digit <= 7).then_some(octal * 8 + digit))
}

/// Whether a mode is one people set on purpose: each class has every permission of the
/// classes less specific than it, nobody writes or executes without reading, someone reads,
/// and special bits only where they mean something.
fn is_usual_mode(mode: i64, directory: bool) -> bool {
    if mode == 0 {
        return true; // no permissions at all: root ignores them anyway
    }
    let (mut read, mut write, mut execute) = (false, false, false);
    // other, group, user: from the least specific class to the most.
    for shift in [0, 3, 6] {
        let class = (mode >> shift) & 0o7;
        let (r, w, x) = (class & 4 != 0, class & 2 != 0, class & 1 != 0);
        let loses_a_permission = (read && !r) || (write && !w) || (execute && !x);
        let executes_what_others_only_read = x && read && !execute;
        if loses_a_permission || executes_what_others_only_read || ((w || x) && !r) {
            return false;
        }
        (read, write, execute) = (read || r, write || w, execute || x);
    }
    if !read {
        return false;
    }
    if directory {
        let setuid = mode & 0o4000 != 0;
        let setgid_or_sticky = mode & 0o3000 != 0;
        execute && !setuid && (!setgid_or_sticky || write)
    } else {
        let setuid_or_setgid = mode & 0o6000 != 0;
        let sticky = mode & 0o1000 != 0;
        let unsafe_special = setuid_or_setgid && (!execute || mode & 0o2 != 0);
        !unsafe_special && !sticky
    }
}

/// Partitions the Fedora CoreOS image reserves, reused by label with another number, would
/// be created anew instead.
fn reserved_partitions(walker: &mut Walker, disk: &Value, at: &str) {
    if disk.get("wipeTable") == Some(&Value::Bool(true)) {
        return;
    }
    for (p, partition) in array(disk, "/partitions").iter().enumerate() {
        let number = partition.get("number").and_then(Value::as_i64).unwrap_or(0);
        let wrong = match partition.get("label").and_then(Value::as_str) {
            Some("BIOS-BOOT" | "PowerPC-PReP-boot") => number != 1,
            Some("EFI-SYSTEM") => number != 2,
            Some("boot") => number != 3,
            Some("root") => number != 4,
            _ => false,
        };
        if wrong {
            warn(
                walker,
                "butane.partition-number",
                &format!("{at}.partitions.{p}.label"),
                "",
                "incorrect partition number; a new partition will be created using reserved label",
            );
        }
    }
}

/// The root partition needs 8 GiB, and when it fills the free space, no partition after it
/// may be placed automatically (that one would take the space instead).
fn root_partition(walker: &mut Walker, disk: &Value, at: &str) {
    let partitions = array(disk, "/partitions");
    let is_root = |p: &Value| p.get("label").and_then(Value::as_str) == Some("root");
    let Some(r) = partitions.iter().position(is_root) else {
        return;
    };
    let mib = |p: &Value, key| p.get(key).and_then(Value::as_i64).unwrap_or(0);
    let size = mib(&partitions[r], "sizeMiB");
    if size > 0 && size < ROOT_MIN_MIB {
        warn(
            walker,
            "butane.root-too-small",
            &format!("{at}.partitions.{r}.sizeMiB"),
            "",
            "root should have 8GiB of space assigned",
        );
    }
    let deleted = |p: &Value| p.get("shouldExist") == Some(&Value::Bool(false));
    let placed_automatically = partitions[r + 1..]
        .iter()
        .any(|p| !deleted(p) && mib(p, "startMiB") == 0);
    if size == 0 && placed_automatically {
        warn(
            walker,
            "butane.root-constrained",
            &format!("{at}.partitions.{r}.label"),
            "",
            "root partition cannot expand; it is set to fill available space but is followed by an auto-positioned partition",
        );
    }
}

/// On a disk other than the boot disk whose table is kept, a partition given only a label
/// is created anew, never matched to an existing one (Butane 1.6.0 and later warn).
fn partitions_reused_by_label(walker: &mut Walker, disk: &Value, at: &str) {
    let boot_disk = disk.get("device").and_then(Value::as_str) == Some(BOOT_DISK);
    if boot_disk || disk.get("wipeTable") == Some(&Value::Bool(true)) {
        return;
    }
    for (p, partition) in array(disk, "/partitions").iter().enumerate() {
        let numbered = partition.get("number").and_then(Value::as_i64).unwrap_or(0) != 0;
        if !numbered && partition.get("label").is_some() {
            warn(
                walker,
                "butane.partition-reuse",
                &format!("{at}.partitions.{p}"),
                ".number",
                "partitions cannot be reused by label; number must be specified except on boot disk (/dev/disk/by-id/coreos-boot-disk) or when wipe_table is true",
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_written_in_decimal_are_told_from_octal_ones() {
        // Decimal 644, 600, 440 read as octal are the usual 0644, 0600, 0440.
        assert!(written_in_decimal(644, false));
        assert!(written_in_decimal(600, false));
        assert!(written_in_decimal(440, false));
        assert!(written_in_decimal(755, true));
        assert!(written_in_decimal(1770, true));
        // Already octal (0o644 = 420, 0o755 = 493), or not octal digits at all.
        assert!(!written_in_decimal(0o644, false));
        assert!(!written_in_decimal(0o755, true));
        assert!(!written_in_decimal(0o1770, true));
        assert!(!written_in_decimal(999, false));
        assert!(!written_in_decimal(0, false));
    }

    #[test]
    fn usual_modes_follow_the_classes() {
        assert!(is_usual_mode(0o640, false));
        assert!(is_usual_mode(0o4755, false));
        assert!(!is_usual_mode(0o4757, false), "setuid and world-writable");
        assert!(!is_usual_mode(0o1644, false), "sticky file");
        assert!(
            !is_usual_mode(0o046, false),
            "others have more than the user"
        );
        assert!(
            !is_usual_mode(0o744, true),
            "directory nobody else can enter"
        );
        assert!(is_usual_mode(0o1777, true));
        assert!(!is_usual_mode(0o4755, true), "setuid directory");
        assert!(!is_usual_mode(0o200, false), "write without read");
    }

    #[test]
    fn digits_read_as_octal() {
        assert_eq!(digits_as_octal(644), Some(0o644));
        assert_eq!(digits_as_octal(7777), Some(0o7777));
        assert_eq!(digits_as_octal(8), None);
        assert_eq!(digits_as_octal(10000), None);
        assert_eq!(digits_as_octal(-1), None);
    }
}
