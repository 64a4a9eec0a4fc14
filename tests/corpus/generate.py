#!/usr/bin/env python3
"""Writes the validation corpus: invalid/*.ign (one rule broken each) with expected.tsv
(file, code, JSON path, severity), and valid/*.ign (no finding at all, even with --strict).
Files named flatcar-* hold a lint that needs `--os flatcar`.

The corpus is plain data so other validators can be run on it; this script is only how it
was written. Run it from anywhere: python3 tests/corpus/generate.py
"""
import base64, gzip, hashlib, json, os, shutil

HERE = os.path.dirname(os.path.abspath(__file__))
SHA = "a" * 64
UNIT = "[Unit]\nDescription=x\n\n[Service]\nExecStart=/usr/bin/true\n\n[Install]\nWantedBy=multi-user.target\n"
KEY = "-----BEGIN PRIVATE KEY-----\nMC4CAQAwBQYDK2VwBCIEIA\n-----END PRIVATE KEY-----\n"


def cfg(version="3.4.0", **sections):
    c = {"ignition": {"version": version}}
    c.update(sections)
    return c


def files(*entries, version="3.4.0", **more):
    storage = {"files": list(entries)}
    storage.update(more)
    return cfg(version, storage=storage)


def units(*entries, version="3.4.0"):
    return cfg(version, systemd={"units": list(entries)})


def data(text):
    return "data:," + "".join(c if c.isalnum() or c in "-_.~/" else "%%%02X" % ord(c) for c in text)


def gz(text):
    return "data:;base64," + base64.b64encode(gzip.compress(text.encode(), mtime=0)).decode()


def h(text):
    return "sha256-" + hashlib.sha256(text.encode()).hexdigest()


INVALID = [
    # name, config (dict, or raw text), code, path, severity
    ("empty", "", "ign.empty", "", "error"),
    ("whitespace-only", "  \n", "ign.empty", "", "error"),
    ("json-syntax-trailing-comma", '{"ignition": {"version": "3.4.0"},}\n', "ign.json-syntax", "", "error"),
    ("json-syntax-unclosed", '{"ignition": {"version": "3.4.0"}\n', "ign.json-syntax", "", "error"),
    ("not-an-object", "[1, 2]\n", "ign.schema", "$", "error"),
    ("no-version", {"ignition": {}}, "ign.version", "$.ignition", "error"),
    ("version-experimental", cfg("3.5.0-experimental"), "ign.version", "$.ignition.version", "error"),
    ("version-2", cfg("2.3.0"), "ign.version", "$.ignition.version", "error"),
    ("version-short", cfg("3.4"), "ign.version", "$.ignition.version", "error"),
    ("version-not-string", {"ignition": {"version": 3}}, "ign.version", "$.ignition", "error"),
    ("schema-files-not-array", cfg(storage={"files": {}}), "ign.schema", "$.storage.files", "error"),
    ("schema-mode-string", files({"path": "/a", "mode": "0644"}), "ign.schema", "$.storage.files.0.mode", "error"),
    ("schema-path-missing", files({"mode": 420}), "ign.schema", "$.storage.files.0", "error"),
    ("schema-unit-name-missing", units({"enabled": True}), "ign.schema", "$.systemd.units.0", "error"),
    ("unknown-key-top", dict(cfg(), systemdd={}), "ign.unknown-key", "$.systemdd", "warning"),
    ("unknown-key-file", files({"path": "/a", "contnets": {"source": data("x")}}), "ign.unknown-key", "$.storage.files.0.contnets", "warning"),
    ("unknown-key-unit", units({"name": "a.service", "enable": True}), "ign.unknown-key", "$.systemd.units.0.enable", "warning"),
    ("v3.0-http-headers", files({"path": "/a", "contents": {"source": "http://x/a", "httpHeaders": [{"name": "A", "value": "b"}]}}, version="3.0.0"), "ign.unknown-key", "$.storage.files.0.contents.httpHeaders", "warning"),
    ("v3.0-proxy", cfg("3.0.0", ignition={"version": "3.0.0", "proxy": {"httpProxy": "http://p"}}), "ign.unknown-key", "$.ignition.proxy", "warning"),
    ("v3.0-mount-options", cfg("3.0.0", storage={"filesystems": [{"device": "/dev/sdb", "mountOptions": ["ro"]}]}), "ign.unknown-key", "$.storage.filesystems.0.mountOptions", "warning"),
    ("v3.1-luks", cfg("3.1.0", storage={"luks": [{"name": "data"}]}), "ign.unknown-key", "$.storage.luks", "warning"),
    ("v3.1-should-exist", cfg("3.1.0", passwd={"users": [{"name": "u", "shouldExist": False}]}), "ign.unknown-key", "$.passwd.users.0.shouldExist", "warning"),
    ("v3.1-partition-resize", cfg("3.1.0", storage={"disks": [{"device": "/dev/sda", "partitions": [{"number": 1, "resize": True}]}]}), "ign.unknown-key", "$.storage.disks.0.partitions.0.resize", "warning"),
    ("v3.2-kernel-arguments", dict(cfg("3.2.0"), kernelArguments={"shouldExist": ["quiet"]}), "ign.unknown-key", "$.kernelArguments", "warning"),
    ("v3.3-luks-discard", cfg("3.3.0", storage={"luks": [{"name": "d", "device": "/dev/sdb", "discard": True}]}), "ign.unknown-key", "$.storage.luks.0.discard", "warning"),
    ("v3.3-tang-advertisement", cfg("3.3.0", storage={"luks": [{"name": "d", "device": "/dev/sdb", "clevis": {"tang": [{"url": "http://t", "thumbprint": "tp", "advertisement": "{}"}]}}]}), "ign.unknown-key", "$.storage.luks.0.clevis.tang.0.advertisement", "warning"),
    ("path-relative", files({"path": "etc/a"}), "ign.path-relative", "$.storage.files.0.path", "error"),
    ("path-relative-directory", cfg(storage={"directories": [{"path": "var/x"}]}), "ign.path-relative", "$.storage.directories.0.path", "error"),
    ("path-trailing-slash", files({"path": "/etc/a/"}), "ign.path-unclean", "$.storage.files.0.path", "error"),
    ("path-double-slash", files({"path": "/etc//a"}), "ign.path-unclean", "$.storage.files.0.path", "error"),
    ("path-dot-dot", files({"path": "/etc/../a"}), "ign.path-unclean", "$.storage.files.0.path", "error"),
    ("path-dot", cfg(storage={"links": [{"path": "/etc/./l", "target": "/usr/bin/x"}]}), "ign.path-unclean", "$.storage.links.0.path", "error"),
    ("path-duplicate-files", files({"path": "/a"}, {"path": "/a"}), "ign.path-duplicate", "$.storage.files.1.path", "error"),
    ("path-duplicate-file-dir", files({"path": "/a"}, directories=[{"path": "/a"}]), "ign.path-duplicate", "$.storage.directories.0.path", "error"),
    ("path-duplicate-dir-link", cfg(storage={"directories": [{"path": "/d"}], "links": [{"path": "/d", "target": "/usr"}]}), "ign.path-duplicate", "$.storage.links.0.path", "error"),
    ("path-under-link-file", files({"path": "/l/a"}, links=[{"path": "/l", "target": "/usr/lib"}]), "ign.path-under-link", "$.storage.files.0.path", "error"),
    ("path-under-link-dir", cfg(storage={"directories": [{"path": "/l/d"}], "links": [{"path": "/l", "target": "/usr/lib"}]}), "ign.path-under-link", "$.storage.directories.0.path", "error"),
    ("owner-both-user", files({"path": "/a", "user": {"id": 0, "name": "root"}}), "ign.owner-both", "$.storage.files.0.user", "error"),
    ("owner-both-group", cfg(storage={"directories": [{"path": "/d", "group": {"id": 0, "name": "root"}}]}), "ign.owner-both", "$.storage.directories.0.group", "error"),
    ("mode-too-large", files({"path": "/a", "mode": 4096}), "ign.mode-range", "$.storage.files.0.mode", "error"),
    ("mode-negative", cfg(storage={"directories": [{"path": "/d", "mode": -1}]}), "ign.mode-range", "$.storage.directories.0.mode", "error"),
    ("mode-setuid", files({"path": "/a", "mode": 0o4755, "contents": {"source": data("x")}}), "ign.mode-special", "$.storage.files.0.mode", "warning"),
    ("mode-sticky-dir", cfg(storage={"directories": [{"path": "/d", "mode": 0o1777}]}), "ign.mode-special", "$.storage.directories.0.mode", "warning"),
    ("overwrite-no-source", files({"path": "/a", "overwrite": True}), "ign.overwrite-no-source", "$.storage.files.0.overwrite", "error"),
    ("overwrite-no-contents-source", files({"path": "/a", "overwrite": True, "contents": {"compression": ""}}), "ign.overwrite-no-source", "$.storage.files.0.overwrite", "error"),
    ("link-no-target", cfg(storage={"links": [{"path": "/l"}]}), "ign.link-target", "$.storage.links.0.target", "error"),
    ("link-empty-target", cfg(storage={"links": [{"path": "/l", "target": ""}]}), "ign.link-target", "$.storage.links.0.target", "error"),
    ("hardlink-to-directory", cfg(storage={"directories": [{"path": "/d"}], "links": [{"path": "/l", "target": "/d", "hard": True}]}), "ign.hardlink-dir", "$.storage.links.0.target", "error"),
    ("hardlink-owner", cfg(storage={"files": [{"path": "/opt/a", "contents": {"source": data("x")}}], "links": [{"path": "/opt/b", "target": "/opt/a", "hard": True, "user": {"id": 500}}]}), "ign.hardlink-owner", "$.storage.links.0.user.id", "warning"),
    ("compression-unknown", files({"path": "/a", "contents": {"source": data("x"), "compression": "xz"}}), "ign.compression", "$.storage.files.0.contents.compression", "error"),
    ("v3.0-compression-merge", cfg("3.0.0", ignition={"version": "3.0.0", "config": {"merge": [{"source": "http://x/c.ign", "compression": "gzip"}]}}), "ign.unknown-key", "$.ignition.config.merge.0.compression", "warning"),
    ("verification-no-source", files({"path": "/a", "contents": {"verification": {"hash": "sha256-" + SHA}}}), "ign.verification-no-source", "$.storage.files.0.contents.verification.hash", "error"),
    ("hash-no-function", files({"path": "/a", "contents": {"source": "http://x/a", "verification": {"hash": SHA}}}), "ign.hash-format", "$.storage.files.0.contents.verification.hash", "error"),
    ("hash-md5", files({"path": "/a", "contents": {"source": "http://x/a", "verification": {"hash": "md5-" + "a" * 32}}}), "ign.hash-format", "$.storage.files.0.contents.verification.hash", "error"),
    ("hash-short", files({"path": "/a", "contents": {"source": "http://x/a", "verification": {"hash": "sha256-abc"}}}), "ign.hash-format", "$.storage.files.0.contents.verification.hash", "error"),
    ("hash-sha512-short", files({"path": "/a", "contents": {"source": "http://x/a", "verification": {"hash": "sha512-" + SHA}}}), "ign.hash-format", "$.storage.files.0.contents.verification.hash", "error"),
    ("v3.0-hash-sha256", files({"path": "/a", "contents": {"source": "http://x/a", "verification": {"hash": "sha256-" + SHA}}}, version="3.0.0"), "ign.hash-format", "$.storage.files.0.contents.verification.hash", "error"),
    ("hash-not-hex", files({"path": "/a", "contents": {"source": "http://x/a", "verification": {"hash": "sha256-" + "g" * 64}}}), "ign.hash-hex", "$.storage.files.0.contents.verification.hash", "error"),
    ("url-scheme-ftp", files({"path": "/a", "contents": {"source": "ftp://x/a"}}), "ign.url-scheme", "$.storage.files.0.contents.source", "error"),
    ("url-scheme-file", files({"path": "/a", "contents": {"source": "file:///etc/passwd"}}), "ign.url-scheme", "$.storage.files.0.contents.source", "error"),
    ("url-no-scheme", files({"path": "/a", "contents": {"source": "example.com/a"}}), "ign.url-scheme", "$.storage.files.0.contents.source", "error"),
    ("v3.1-url-gs", files({"path": "/a", "contents": {"source": "gs://bucket/a"}}, version="3.1.0"), "ign.url-scheme", "$.storage.files.0.contents.source", "error"),
    ("v3.3-url-arn", files({"path": "/a", "contents": {"source": "arn:aws:s3:us-east-1:123456789012:accesspoint/ap/object/a"}}, version="3.3.0"), "ign.url-scheme", "$.storage.files.0.contents.source", "error"),
    ("url-invalid-host", files({"path": "/a", "contents": {"source": "http://exa mple.com/a"}}), "ign.url", "$.storage.files.0.contents.source", "error"),
    ("data-url-bad-escape", files({"path": "/a", "contents": {"source": "data:,%zz"}}), "ign.data-url", "$.storage.files.0.contents.source", "error"),
    ("data-url-no-comma", files({"path": "/a", "contents": {"source": "data:text/plain"}}), "ign.data-url", "$.storage.files.0.contents.source", "error"),
    ("data-url-bad-base64", files({"path": "/a", "contents": {"source": "data:;base64,@@@@"}}), "ign.data-url", "$.storage.files.0.contents.source", "error"),
    ("http-headers-on-data", files({"path": "/a", "contents": {"source": data("x"), "httpHeaders": [{"name": "A", "value": "b"}]}}), "ign.http-headers", "$.storage.files.0.contents.httpHeaders", "error"),
    ("http-header-empty-name", files({"path": "/a", "contents": {"source": "https://x/a", "httpHeaders": [{"name": " ", "value": "b"}]}}), "ign.http-headers", "$.storage.files.0.contents.httpHeaders.0.name", "error"),
    ("http-header-empty-value", files({"path": "/a", "contents": {"source": "https://x/a", "httpHeaders": [{"name": "A", "value": ""}]}}), "ign.http-headers", "$.storage.files.0.contents.httpHeaders.0.value", "error"),
    ("url-bad-escape", cfg(ignition={"version": "3.4.0", "config": {"merge": [{"source": "https://x/%zz"}]}}), "ign.url", "$.ignition.config.merge.0.source", "error"),
    ("url-port-not-number", files({"path": "/a", "contents": {"source": "https://x:port/a"}}), "ign.url", "$.storage.files.0.contents.source", "error"),
    ("http-header-duplicate", files({"path": "/a", "contents": {"source": "https://x/a", "httpHeaders": [{"name": "A", "value": "b"}, {"name": "a", "value": "c"}]}}), "ign.http-headers", "$.storage.files.0.contents.httpHeaders.1.name", "error"),
    ("unit-name-no-suffix", units({"name": "etcd"}), "ign.unit-name", "$.systemd.units.0.name", "error"),
    ("unit-name-bad-suffix", units({"name": "etcd.conf"}), "ign.unit-name", "$.systemd.units.0.name", "error"),
    ("unit-name-slash", units({"name": "a/b.service"}), "ign.unit-name", "$.systemd.units.0.name", "error"),
    ("unit-duplicate", units({"name": "a.service", "contents": UNIT}, {"name": "a.service", "enabled": True}), "ign.unit-duplicate", "$.systemd.units.1.name", "error"),
    ("dropin-name-no-conf", units({"name": "docker.service", "dropins": [{"name": "x.txt", "contents": "[Service]\n"}]}), "ign.dropin-name", "$.systemd.units.0.dropins.0.name", "error"),
    ("dropin-duplicate", units({"name": "docker.service", "dropins": [{"name": "x.conf"}, {"name": "x.conf"}]}), "ign.dropin-duplicate", "$.systemd.units.0.dropins.1.name", "error"),
    ("unit-syntax-open-section", units({"name": "a.service", "contents": "[Unit\nDescription=x\n"}), "ign.unit-syntax", "$.systemd.units.0.contents", "error"),
    ("unit-syntax-garbage", units({"name": "a.service", "contents": "[Unit]\nthis is not an assignment\n"}), "ign.unit-syntax", "$.systemd.units.0.contents", "error"),
    ("unit-syntax-before-section", units({"name": "a.service", "contents": "Description=x\n[Unit]\n"}), "ign.unit-syntax", "$.systemd.units.0.contents", "error"),
    ("unit-syntax-after-header", units({"name": "a.service", "contents": "[Unit] extra\n"}), "ign.unit-syntax", "$.systemd.units.0.contents", "error"),
    ("dropin-syntax", units({"name": "docker.service", "dropins": [{"name": "x.conf", "contents": "[Service\n"}]}), "ign.unit-syntax", "$.systemd.units.0.dropins.0.contents", "error"),
    ("unit-enabled-no-install", units({"name": "a.service", "enabled": True, "contents": "[Service]\nExecStart=/usr/bin/true\n"}), "ign.unit-no-install", "$.systemd.units.0.contents", "warning"),
    ("unit-path-conflict", dict(units({"name": "a.service", "contents": UNIT}), storage={"files": [{"path": "/etc/systemd/system/a.service"}]}), "ign.unit-path-conflict", "$.storage.files.0.path", "error"),
    ("dropin-path-conflict", dict(units({"name": "docker.service", "dropins": [{"name": "x.conf", "contents": "[Service]\n"}]}), storage={"files": [{"path": "/etc/systemd/system/docker.service.d/x.conf"}]}), "ign.unit-path-conflict", "$.storage.files.0.path", "error"),
    ("user-duplicate", cfg(passwd={"users": [{"name": "core"}, {"name": "core"}]}), "ign.user-duplicate", "$.passwd.users.1.name", "error"),
    ("group-duplicate", cfg(passwd={"groups": [{"name": "g"}, {"name": "g"}]}), "ign.group-duplicate", "$.passwd.groups.1.name", "error"),
    ("ssh-key-duplicate", cfg(passwd={"users": [{"name": "core", "sshAuthorizedKeys": ["ssh-ed25519 AAAA k", "ssh-ed25519 AAAA k"]}]}), "ign.ssh-key-duplicate", "$.passwd.users.0.sshAuthorizedKeys.1", "error"),
    ("gzip-not-gzip", files({"path": "/a", "contents": {"source": data("plain text"), "compression": "gzip"}}), "ign.gzip", "$.storage.files.0.contents.compression", "error"),
    ("data-hash-mismatch", files({"path": "/a", "contents": {"source": data("hello\n"), "verification": {"hash": h("bye\n")}}}), "ign.data-hash-mismatch", "$.storage.files.0.contents.verification.hash", "error"),
    ("data-hash-of-compressed", files({"path": "/a", "contents": {"source": gz("hello\n"), "compression": "gzip", "verification": {"hash": "sha256-" + hashlib.sha256(gzip.compress(b"hello\n", mtime=0)).hexdigest()}}}), "ign.data-hash-mismatch", "$.storage.files.0.contents.verification.hash", "error"),
    ("private-key-world-readable", files({"path": "/etc/tls/key.pem", "mode": 0o644, "contents": {"source": data(KEY)}}), "ign.private-key-mode", "$.storage.files.0.mode", "warning"),
    ("private-key-default-mode", files({"path": "/etc/tls/key.pem", "contents": {"source": data(KEY)}}), "ign.private-key-mode", "$.storage.files.0.mode", "warning"),
    ("private-key-gzip-world-readable", files({"path": "/etc/tls/key.pem", "mode": 0o644, "contents": {"source": gz(KEY), "compression": "gzip"}}), "ign.private-key-mode", "$.storage.files.0.mode", "warning"),
    ("unit-unknown-section", units({"name": "a.service", "contents": "[Unit]\n[Servce]\nExecStart=/usr/bin/true\n"}), "ign.unit-section", "$.systemd.units.0.contents", "warning"),
    ("unit-exec-relative", units({"name": "a.service", "contents": "[Service]\nExecStart=bin/true\n"}), "ign.unit-exec-path", "$.systemd.units.0.contents", "warning"),
    ("dropin-exec-relative", units({"name": "docker.service", "dropins": [{"name": "x.conf", "contents": "[Service]\nExecStartPre=-./run.sh\n"}]}), "ign.unit-exec-path", "$.systemd.units.0.dropins.0.contents", "warning"),
    ("unit-template-no-install", units({"name": "a@.service", "contents": "[Service]\nExecStart=/usr/bin/true %i\n"}, {"name": "a@one.service", "enabled": True}), "ign.unit-no-install", "$.systemd.units.0.contents", "warning"),
    ("flatcar-unit-install-target-unknown", units({"name": "a.service", "enabled": True, "contents": UNIT.replace("multi-user.target", "multiuser.target")}), "ign.unit-install-target", "$.systemd.units.0.contents", "warning"),
    ("flatcar-dropin-unknown-unit", units({"name": "foo.service", "dropins": [{"name": "x.conf", "contents": "[Service]\n"}]}), "ign.dropin-unknown-unit", "$.systemd.units.0.name", "warning"),
    ("flatcar-link-target-unknown", cfg(storage={"links": [{"path": "/etc/l", "target": "/opt/nothing"}]}), "ign.link-target-unknown", "$.storage.links.0.target", "warning"),
    ("duplicate-key", '{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"relative"}]},"storage":{}}\n', "ign.duplicate-key", "$.storage", "error"),
    ("duplicate-key-smuggled-file", '{"ignition":{"version":"3.4.0"},\n "storage":{"files":[{"path":"/etc/ssh/sshd_config.d/99-evil.conf","mode":420,"contents":{"source":"data:,PermitRootLogin%20yes%0A"}}]},\n "storage":{"directories":[{"path":"/etc/harmless"}]}}\n', "ign.duplicate-key", "$.storage", "error"),
    ("gzip-bomb", files({"path": "/a", "contents": {"source": "data:;base64," + base64.b64encode(gzip.compress(bytes(256 << 20 | 1), 9, mtime=0)).decode(), "compression": "gzip"}}), "ign.gzip-unchecked", "$.storage.files.0.contents.compression", "warning"),
    ("gzip-trailing-garbage", files({"path": "/a", "contents": {"source": "data:;base64," + base64.b64encode(gzip.compress(b"hello\n", mtime=0) + b"GARBAGE").decode(), "compression": "gzip"}}), "ign.gzip", "$.storage.files.0.contents.compression", "error"),
    ("mode-fraction", '{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/a","mode":420.0}]}}\n', "ign.schema", "$.storage.files.0.mode", "error"),
    ("mode-exponent", '{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/a","mode":4.2e2}]}}\n', "ign.schema", "$.storage.files.0.mode", "error"),
    ("data-url-base64-escaped-newline", files({"path": "/a", "contents": {"source": "data:;base64,QUFB%0AQUFB"}}), "ign.data-url", "$.storage.files.0.contents.source", "error"),
    ("data-url-base64-upper-case", files({"path": "/a", "contents": {"source": "data:;BASE64,QUFB"}}), "ign.data-url", "$.storage.files.0.contents.source", "error"),
    ("data-url-hash-sign", files({"path": "/a", "contents": {"source": "data:,a#b"}}), "ign.data-url", "$.storage.files.0.contents.source", "error"),
    ("data-url-bad-media-type", files({"path": "/a", "contents": {"source": "data:foo;base64,QUFB"}}), "ign.data-url", "$.storage.files.0.contents.source", "error"),
    ("data-url-parameter-after-base64", files({"path": "/a", "contents": {"source": "data:;base64;charset=utf-8,QUFB"}}), "ign.data-url", "$.storage.files.0.contents.source", "error"),
    ("data-url-raw-space", files({"path": "/a", "contents": {"source": "data:,a b"}}), "ign.data-url", "$.storage.files.0.contents.source", "error"),
    ("data-url-non-ascii", files({"path": "/a", "contents": {"source": "data:,\u00e9"}}), "ign.data-url", "$.storage.files.0.contents.source", "error"),
    ("s3-empty-version-id", files({"path": "/a", "contents": {"source": "s3://bucket/key?versionId="}}), "ign.s3", "$.storage.files.0.contents.source", "error"),
    ("arn-not-s3", files({"path": "/a", "contents": {"source": "arn:aws:ec2:us-east-1:123456789012:object/a"}}), "ign.s3", "$.storage.files.0.contents.source", "error"),
    ("merge-no-source", cfg(ignition={"version": "3.4.0", "config": {"merge": [{"verification": {}}]}}), "ign.source-required", "$.ignition.config.merge.0", "error"),
    ("ca-no-source", cfg("3.0.0", ignition={"version": "3.0.0", "security": {"tls": {"certificateAuthorities": [{}]}}}), "ign.source-required", "$.ignition.security.tls.certificateAuthorities.0", "error"),
    ("proxy-not-http", cfg(ignition={"version": "3.4.0", "proxy": {"httpProxy": "ftp://proxy:21"}}), "ign.proxy", "$.ignition.proxy.httpProxy", "error"),
    ("proxy-empty", cfg(ignition={"version": "3.4.0", "proxy": {"httpProxy": ""}}), "ign.proxy", "$.ignition.proxy.httpProxy", "error"),
    ("proxy-ipv6-junk", cfg(ignition={"version": "3.4.0", "proxy": {"httpsProxy": "http://[::1]a"}}), "ign.proxy", "$.ignition.proxy.httpsProxy", "error"),
    ("proxy-plaintext-for-https", cfg(ignition={"version": "3.4.0", "proxy": {"httpsProxy": "http://proxy:3128"}}), "ign.proxy-insecure", "$.ignition.proxy.httpsProxy", "warning"),
    ("disk-no-device", cfg(storage={"disks": [{"wipeTable": True}]}), "ign.disk", "$.storage.disks.0.device", "error"),
    ("disk-duplicate-device", cfg(storage={"disks": [{"device": "/dev/vdb"}, {"device": "/dev/vdb"}]}), "ign.disk", "$.storage.disks.1", "error"),
    ("partition-overlap", cfg(storage={"disks": [{"device": "/dev/vdb", "partitions": [{"number": 1, "startMiB": 10, "sizeMiB": 100}, {"number": 2, "startMiB": 50, "sizeMiB": 100}]}]}), "ign.partition", "$.storage.disks.0.partitions.1", "error"),
    ("partition-number-collision", cfg(storage={"disks": [{"device": "/dev/vdb", "partitions": [{"number": 1}, {"number": 1, "label": "x"}]}]}), "ign.partition", "$.storage.disks.0.partitions.1", "error"),
    ("partition-label-too-long", cfg(storage={"disks": [{"device": "/dev/vdb", "partitions": [{"label": "x" * 37}]}]}), "ign.partition", "$.storage.disks.0.partitions.0.label", "error"),
    ("partition-bad-type-guid", cfg(storage={"disks": [{"device": "/dev/vdb", "partitions": [{"number": 1, "typeGuid": "linux"}]}]}), "ign.partition", "$.storage.disks.0.partitions.0.typeGuid", "error"),
    ("partition-delete-with-size", cfg(storage={"disks": [{"device": "/dev/vdb", "partitions": [{"number": 1, "shouldExist": False, "sizeMiB": 10}]}]}), "ign.partition", "$.storage.disks.0.partitions.0", "error"),
    ("partition-no-number-or-label", cfg(storage={"disks": [{"device": "/dev/vdb", "partitions": [{"sizeMiB": 10}]}]}), "ign.partition", "$.storage.disks.0.partitions.0", "error"),
    ("filesystem-bad-format", cfg(storage={"filesystems": [{"device": "/dev/vdb", "format": "ntfs"}]}), "ign.filesystem", "$.storage.filesystems.0.format", "error"),
    ("filesystem-none-before-3.3", cfg("3.2.0", storage={"filesystems": [{"device": "/dev/vdb", "format": "none"}]}), "ign.filesystem", "$.storage.filesystems.0.format", "error"),
    ("filesystem-path-no-format", cfg(storage={"filesystems": [{"device": "/dev/vdb", "path": "/var"}]}), "ign.filesystem", "$.storage.filesystems.0.format", "error"),
    ("filesystem-xfs-label-long", cfg(storage={"filesystems": [{"device": "/dev/vdb", "format": "xfs", "label": "thirteen-char"}]}), "ign.filesystem", "$.storage.filesystems.0.label", "error"),
    ("filesystem-relative-path", cfg(storage={"filesystems": [{"device": "/dev/vdb", "format": "ext4", "path": "var"}]}), "ign.filesystem", "$.storage.filesystems.0.path", "error"),
    ("filesystem-on-partitioned-disk", cfg(storage={"disks": [{"device": "/dev/vdb", "partitions": [{"number": 1}]}], "filesystems": [{"device": "/dev/vdb", "format": "ext4"}]}), "ign.filesystem-overwrite", "$.storage.filesystems.0.device", "warning"),
    ("raid-no-level", cfg(storage={"raid": [{"name": "md0", "devices": ["/dev/vdb", "/dev/vdc"]}]}), "ign.raid", "$.storage.raid.0.level", "error"),
    ("raid-spares-on-raid0", cfg(storage={"raid": [{"name": "md0", "level": "raid0", "spares": 1, "devices": ["/dev/vdb", "/dev/vdc"]}]}), "ign.raid", "$.storage.raid.0.level", "error"),
    ("luks-name-slash", cfg(storage={"luks": [{"name": "a/b", "device": "/dev/vdb"}]}), "ign.luks", "$.storage.luks.0.name", "error"),
    ("luks-tang-no-thumbprint", cfg(storage={"luks": [{"name": "d", "device": "/dev/vdb", "clevis": {"tang": [{"url": "http://tang"}]}}]}), "ign.luks", "$.storage.luks.0.clevis.tang.0.thumbprint", "error"),
    ("luks-cex-with-threshold", cfg("3.5.0", storage={"luks": [{"name": "d", "device": "/dev/dasdb", "cex": {"enabled": True}, "clevis": {"threshold": 1}}]}), "ign.luks", "$.storage.luks.0.cex", "error"),
    ("luks-custom-pin-unknown", cfg(storage={"luks": [{"name": "d", "device": "/dev/vdb", "clevis": {"custom": {"pin": "yubikey", "config": "{}"}}}]}), "ign.luks", "$.storage.luks.0.clevis.custom.pin", "error"),
    ("v3.5-cex-with-clevis", cfg("3.5.0", storage={"luks": [{"name": "d", "device": "/dev/dasdb", "cex": {"enabled": True}, "clevis": {"tpm2": True}}]}), "ign.luks", "$.storage.luks.0.cex", "error"),
    ("v3.4-cex", cfg("3.4.0", storage={"luks": [{"name": "d", "device": "/dev/dasdb", "cex": {"enabled": True}}]}), "ign.unknown-key", "$.storage.luks.0.cex", "warning"),
    ("kernel-arguments-conflict", dict(cfg("3.3.0"), kernelArguments={"shouldExist": ["quiet"], "shouldNotExist": ["quiet"]}), "ign.kernel-args", "$.kernelArguments.shouldNotExist.0", "error"),
]

VALID = [
    ("minimal-3.0", cfg("3.0.0")),
    ("minimal-3.1", cfg("3.1.0")),
    ("minimal-3.2", cfg("3.2.0")),
    ("minimal-3.3", cfg("3.3.0")),
    ("minimal-3.4", cfg("3.4.0")),
    ("minimal-3.5", cfg("3.5.0")),
    ("luks-cex-3.5", cfg("3.5.0", storage={"luks": [{"name": "d", "device": "/dev/dasdb", "cex": {"enabled": True}}]})),
    ("file-inline-3.0", files({"path": "/etc/motd", "mode": 0o644, "contents": {"source": data("hello\n")}}, version="3.0.0")),
    ("file-sha512-3.0", files({"path": "/opt/a", "contents": {"source": "https://x/a", "verification": {"hash": "sha512-" + "a" * 128}}}, version="3.0.0")),
    ("file-gzip-hash", files({"path": "/etc/motd", "contents": {"source": gz("hello\n"), "compression": "gzip", "verification": {"hash": h("hello\n")}}})),
    ("file-base64", files({"path": "/etc/b", "contents": {"source": "data:;base64," + base64.b64encode(b"\x00\x01").decode()}})),
    ("http-headers-3.1", files({"path": "/opt/a", "contents": {"source": "https://x/a", "httpHeaders": [{"name": "Authorization", "value": "Bearer t"}]}}, version="3.1.0")),
    ("proxy-3.1", cfg("3.1.0", ignition={"version": "3.1.0", "proxy": {"httpsProxy": "https://proxy:3128", "noProxy": ["10.0.0.0/8"]}})),
    ("luks-3.2", cfg("3.2.0", storage={"luks": [{"name": "data", "device": "/dev/sdb", "clevis": {"tpm2": True}}]})),
    ("gs-url-3.2", files({"path": "/opt/a", "contents": {"source": "gs://bucket/a"}}, version="3.2.0")),
    ("kernel-arguments-3.3", dict(cfg("3.3.0"), kernelArguments={"shouldExist": ["console=ttyS0"], "shouldNotExist": ["quiet"]})),
    ("luks-discard-3.4", cfg("3.4.0", storage={"luks": [{"name": "d", "device": "/dev/sdb", "discard": True, "openOptions": ["--perf-no_read_workqueue"]}]})),
    ("arn-url-3.4", files({"path": "/opt/a", "contents": {"source": "arn:aws:s3:us-east-1:123456789012:accesspoint/ap/object/a"}})),
    ("unit-with-dropin", units({"name": "a.service", "enabled": True, "contents": UNIT, "dropins": [{"name": "10-env.conf", "contents": "[Service]\nEnvironment=A=b\n"}]})),
    ("dropin-on-flatcar-unit", units({"name": "docker.service", "dropins": [{"name": "10-opts.conf", "contents": "[Service]\nExecStart=\nExecStart=/usr/bin/dockerd --log-level=warn\n"}]})),
    ("masked-unit", units({"name": "locksmithd.service", "mask": True})),
    ("links-known-targets", cfg(storage={"files": [{"path": "/opt/bin/tool", "mode": 0o755, "contents": {"source": data("#!/bin/sh\n")}}], "links": [{"path": "/etc/l1", "target": "/opt/bin/tool"}, {"path": "/etc/l2", "target": "/usr/share/zoneinfo/UTC"}, {"path": "/opt/bin/l3", "target": "tool"}]})),
    ("private-key-0600", files({"path": "/etc/tls/key.pem", "mode": 0o600, "contents": {"source": data(KEY)}})),
    ("private-key-gzip-0600", files({"path": "/etc/tls/key.pem", "mode": 0o600, "contents": {"source": gz(KEY), "compression": "gzip"}})),
    ("base64-trailing-bits", files({"path": "/etc/a", "contents": {"source": "data:;base64,QR=="}})),
    ("gzip-two-members", files({"path": "/etc/mm", "contents": {"source": "data:;base64," + base64.b64encode(gzip.compress(b"hello ", mtime=0) + gzip.compress(b"world\n", mtime=0)).decode(), "compression": "gzip", "verification": {"hash": h("hello world\n")}}})),
    ("owner-id-and-empty-name", files({"path": "/etc/a", "user": {"id": 0, "name": ""}})),
    ("http-header-without-value", files({"path": "/opt/a", "contents": {"source": "HTTPS://x/a", "httpHeaders": [{"name": "A"}]}})),
    ("owner-id-negative", files({"path": "/etc/a", "user": {"id": -1}})),
    ("lone-surrogate", '{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/\\ud800"}]}}\n'),
    ("raw-bytes-not-utf8", b'{"ignition":{"version":"3.4.0"},"storage":{"files":[{"path":"/etc/a\xff"}]}}\n'),
    ("user-without-name", cfg(passwd={"users": [{"sshAuthorizedKeys": ["ssh-ed25519 AAAA a"]}]})),
    ("user-empty-name", cfg(passwd={"users": [{"name": ""}]})),
    ("link-without-target-3.2", cfg("3.2.0", storage={"links": [{"path": "/etc/l"}]})),
    ("file-empty-source", files({"path": "/etc/a", "contents": {"source": ""}})),
    ("merge-without-source-3.0", cfg("3.0.0", ignition={"version": "3.0.0", "config": {"merge": [{}]}})),
    ("storage-devices", cfg(storage={"disks": [{"device": "/dev/vdb", "wipeTable": True, "partitions": [{"number": 1, "label": "data", "startMiB": 0, "sizeMiB": 0, "typeGuid": "0FC63DAF-8483-4772-8E79-3D69D8477DE4"}]}], "raid": [{"name": "md0", "level": "raid1", "devices": ["/dev/vdc", "/dev/vdd"], "spares": 1}], "filesystems": [{"device": "/dev/disk/by-partlabel/data", "format": "xfs", "path": "/var/data", "label": "data"}, {"device": "/dev/md/md0", "format": "none"}], "luks": [{"name": "secret", "device": "/dev/vde", "clevis": {"tpm2": True}}]})),
    ("s3-with-version", files({"path": "/opt/a", "contents": {"source": "s3://bucket/key?versionId=abc"}})),
    ("unit-exec-bare-name", units({"name": "a.service", "contents": "[Service]\nExecStart=true\n"})),
    ("dropin-on-fcos-unit", units({"name": "zincati.service", "dropins": [{"name": "10-x.conf", "contents": "[Service]\nEnvironment=A=b\n"}]})),
    ("link-relative-target", cfg(storage={"links": [{"path": "/etc/a/l", "target": "../b"}]})),
    ("users-and-groups", cfg(passwd={"users": [{"name": "core", "sshAuthorizedKeys": ["ssh-ed25519 AAAA a", "ssh-ed25519 BBBB b"]}], "groups": [{"name": "ops", "gid": 5000}]})),
]


def main():
    for kind in ("invalid", "valid"):
        shutil.rmtree(os.path.join(HERE, kind), ignore_errors=True)
        os.makedirs(os.path.join(HERE, kind))
    rows = ["# file\tcode\tpath\tseverity"]
    for name, config, code, path, severity in INVALID:
        text = config if isinstance(config, str) else json.dumps(config, indent=2) + "\n"
        with open(os.path.join(HERE, "invalid", f"{name}.ign"), "w") as f:
            f.write(text)
        rows.append(f"{name}.ign\t{code}\t{path}\t{severity}")
    with open(os.path.join(HERE, "expected.tsv"), "w") as f:
        f.write("\n".join(rows) + "\n")
    for name, config in VALID:
        if isinstance(config, dict):
            config = json.dumps(config, indent=2) + "\n"
        if isinstance(config, str):
            config = config.encode()
        with open(os.path.join(HERE, "valid", f"{name}.ign"), "wb") as f:
            f.write(config)
    print(f"{len(INVALID)} invalid, {len(VALID)} valid")


if __name__ == "__main__":
    main()
